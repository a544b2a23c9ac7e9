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
// (internal/raftplugin, which serves Factory). The nine configurations run
// concurrently, at most confParallel at a time, longest first (each check's
// cluster has its own ports and directories; the checks of one
// configuration run one after the other). With -short only the 3-node
// cluster runs, directly and through gRPC.
func TestConformance(t *testing.T) {
	type config struct {
		nodes int
		mode  string
	}
	var configs []config
	for _, mode := range []string{"process", "grpc", "direct"} {
		for _, nodes := range []int{5, 3, 1} {
			if testing.Short() && (nodes != 3 || mode == "process") {
				continue
			}
			configs = append(configs, config{nodes, mode})
		}
	}
	sem := make(chan struct{}, confParallel)
	var wg sync.WaitGroup
	for _, c := range configs {
		wg.Add(1)
		sem <- struct{}{}
		// t.Run may be called from several goroutines at once; these
		// subtests are not t.Parallel, so -parallel does not limit them.
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(fmt.Sprintf("%dnodes/%s", c.nodes, c.mode), func(t *testing.T) {
				var h conformance.Harness
				switch c.mode {
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
				cfg.Nodes = c.nodes
				conformance.RunConfig(t, h, cfg)
			})
		}()
	}
	wg.Wait()
}

// confParallel is how many conformance configurations run at once.
const confParallel = 4

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
	// pluginDir holds the plugin binary; TestMain removes it.
	pluginDir string
)

// pluginBinary builds internal/raftplugin once per test binary and returns
// its path. It is built without -race: the same code runs race-checked in
// the direct and gRPC modes, and race-enabled plugin processes (five per
// check) would dominate the suite's time.
func pluginBinary(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		path := filepath.Join(pluginDir, "chronik-metadata-raft")
		args := []string{"build", "-o", path, "github.com/chronik-go/chronik/metadata-raft/internal/raftplugin"}
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
