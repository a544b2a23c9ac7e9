package conformance

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildExamplePlugin builds the example memory plugin into a temporary
// directory of t.
func buildExamplePlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chronik-metadata-memory")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/chronik-go/chronik/plugins/examples/chronik-metadata-memory").CombinedOutput()
	if err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, out)
	}
	return bin
}

// TestMemoryProcess runs the whole suite against the example memory plugin
// as go-plugin subprocesses (the third mode), under testing.T.
func TestMemoryProcess(t *testing.T) {
	Run(t, ProcessHarness(ProcessConfig{Path: buildExamplePlugin(t)}))
}
