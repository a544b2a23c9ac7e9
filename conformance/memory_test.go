package conformance

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The memory backend passes the suite three ways: the Go value directly
// (TestMemoryDirect), behind the plugin gRPC adapters in process
// (TestMemoryGRPC, in grpc_test.go), and as plugin subprocesses that form
// one cluster (TestMemoryPlugin).

// TestMemoryDirect runs the whole suite against memory.Store and its node
// handles, in this process.
func TestMemoryDirect(t *testing.T) { Run(t, MemoryHarness()) }

// TestMemoryPlugin builds the example plugin and runs the whole suite with
// every node a plugin subprocess: node 0 holds the store and serves it to
// the others over loopback gRPC.
func TestMemoryPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "chronik-metadata-memory")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"github.com/chronik-go/chronik/plugins/examples/chronik-metadata-memory").CombinedOutput()
	if err != nil {
		t.Fatalf("building the memory plugin: %v\n%s", err, out)
	}
	Run(t, ProcessHarness(ProcessConfig{Name: "memory/process", Path: bin}))
}
