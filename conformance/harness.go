package conformance

import (
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// T is the part of *testing.T the suite uses. *testing.T implements it; the
// chronik-conformance CLI has its own implementation so the suite runs
// outside `go test`. Fatalf, FailNow and Skipf end the calling goroutine
// (runtime.Goexit), as in package testing.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
	Failed() bool
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Name() string
}

// Options are what the suite asks of a cluster it starts.
type Options struct {
	// Nodes is how many nodes the cluster has (1 for single-node checks).
	Nodes int
	// SessionTimeout is the broker session timeout every node must use.
	SessionTimeout time.Duration
}

// Harness starts clusters of one backend for the suite.
type Harness interface {
	// Name names the backend and mode, e.g. "memory/grpc".
	Name() string
	// Capabilities are what the backend can do; checks that need a missing
	// capability are skipped, visibly, with the capability named.
	Capabilities() []metadata.Capability
	// Start starts a fresh cluster (new, empty state in fresh directories
	// from t.TempDir) and returns once every node accepts calls. The harness
	// stops every node it started when t's cleanups run. Start calls
	// t.Fatalf if the cluster cannot start.
	Start(t T, opts Options) Cluster
}

// Cluster is a running cluster of N nodes, indexed 0..N-1.
type Cluster interface {
	// N is the number of nodes.
	N() int
	// Node returns the backend handle of node i. After Kill or Stop of i
	// the handle must not be used; after Restart, Node(i) returns the new
	// handle.
	Node(i int) metadata.Backend
	// Stop shuts node i down gracefully (Close; SIGTERM for a process).
	Stop(i int) error
	// Kill ends node i abruptly (SIGKILL for a process; for an in-process
	// node: drop it without any shutdown work, as a crash would).
	Kill(i int) error
	// Restart starts node i again with the same identity and data
	// directory, after Stop or Kill, and returns once it accepts calls.
	Restart(i int) error
}
