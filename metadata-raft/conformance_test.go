package raftmeta

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/conformance"
)

// The conformance suite against 1, 3 and 5 nodes, three ways: the nodes
// directly, through the plugin gRPC adapters, and as plugin subprocesses
// (internal/raftplugin, which serves Factory). The configurations run in
// parallel with each other (each check's cluster has its own ports and
// directories; the checks of one configuration run one after the other).
// With -short only the 3-node cluster runs, directly and through gRPC.
func TestConformance(t *testing.T) {
	for _, nodes := range []int{1, 3, 5} {
		for _, mode := range []string{"direct", "grpc", "process"} {
			t.Run(fmt.Sprintf("%dnodes/%s", nodes, mode), func(t *testing.T) {
				if testing.Short() && (nodes != 3 || mode == "process") {
					t.Skip("-short: only the 3-node cluster, direct and through gRPC")
				}
				t.Parallel()
				var h conformance.Harness
				switch mode {
				case "direct":
					h = raftHarness{}
				case "grpc":
					h = conformance.GRPCHarness(raftHarness{})
				case "process":
					h = conformance.ProcessHarness(conformance.ProcessConfig{
						Name:     "raft/process",
						Path:     pluginBinary(t),
						Env:      []string{"CHRONIK_PLUGIN_LOG_LEVEL=warn"},
						LogLevel: slog.LevelWarn,
					})
				}
				cfg := conformance.DefaultConfig()
				cfg.Nodes = nodes
				conformance.RunConfig(t, h, cfg)
			})
		}
	}
}

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
	// pluginDir holds the plugin binary; TestMain removes it.
	pluginDir string
)

// pluginBinary builds internal/raftplugin once per test binary (with -race
// when the tests run with it) and returns its path.
func pluginBinary(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		path := filepath.Join(pluginDir, "chronik-metadata-raft")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/chronik-go/chronik/metadata-raft/internal/raftplugin")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("go %v: %v\n%s", args, err, out)
			return
		}
		pluginPath = path
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginPath
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftmeta-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every node stopped by its test must have stopped all it started.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
