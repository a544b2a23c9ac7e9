package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronik-go/chronik/conformance"
)

// chronikBinary is built once by TestMain for the tests that run chronik as
// a process (its built-in plugins are chronik itself).
var chronikBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chronik-cmd-test")
	if err != nil {
		panic(err)
	}
	chronikBinary = filepath.Join(dir, "chronik")
	args := []string{"build", "-o", chronikBinary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building chronik: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestBuiltinRaftConformance runs the whole conformance suite against the
// built-in raft backend the way the broker uses it: every node is the
// chronik binary started as its own plugin (chronik metadata-plugin raft),
// across the real go-plugin boundary.
// It runs for 1, 3 and 5 nodes; the checks of one size run two at a time.
func TestBuiltinRaftConformance(t *testing.T) {
	h := conformance.ProcessHarness(conformance.ProcessConfig{
		Name: "chronik-raft/process",
		Path: chronikBinary,
		Args: []string{pluginCommandName, "raft"},
	})
	for _, nodes := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			cfg := conformance.DefaultConfig()
			cfg.Nodes = nodes
			cfg.Parallel = true
			conformance.RunConfig(t, h, cfg)
		})
	}
}

func TestPluginCommandUnknownBackend(t *testing.T) {
	out, err := exec.Command(chronikBinary, pluginCommandName, "nope").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `no built-in metadata backend "nope"`) {
		t.Fatalf("chronik %s nope: err %v, output:\n%s", pluginCommandName, err, out)
	}
}

func TestBackendCommand(t *testing.T) {
	path, args, err := backendCommand("raft", "")
	if err != nil || path == "" || strings.Join(args, " ") != pluginCommandName+" raft" {
		t.Fatalf("backendCommand(raft) = %q %q %v", path, args, err)
	}
	dir := t.TempDir()
	plugin := buildExamplePlugin(t, dir)
	t.Setenv("PATH", t.TempDir())
	path, args, err = backendCommand("memory", dir)
	if err != nil || path != plugin || len(args) != 0 {
		t.Fatalf("backendCommand(memory) = %q %q %v, want %s", path, args, err, plugin)
	}
	_, _, err = backendCommand("nosuch", dir)
	if err == nil || !strings.Contains(err.Error(), "not a built-in backend (etcd, raft)") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("backendCommand(nosuch) error %v should name the built-ins and the places searched", err)
	}
}
