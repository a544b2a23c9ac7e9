// Package conformance proves that a chronik metadata backend meets the
// contract of package metadata (github.com/chronik-go/chronik/plugins/metadata).
//
// The suite is a list of checks (Checks), one per clause of the contract:
// registration and broker epochs, sessions and fencing, the watch feed
// (complete, ordered, gap-free, identical on every node, resumable,
// compactable, cancellable), linearizable reads across nodes, partition
// compare-and-set and epochs, topics, producer ids, the cluster id (Kafka's
// format, one per cluster, stable), persistence across restarts, minority
// and majority failures, sentinel errors and contexts.
// Each check starts a fresh cluster through a Harness, drives it through
// the metadata.Backend interface only, and fails with a message that names
// the node, the call and what was expected. A check that needs a capability
// the harness does not declare (metadata.CapPersistence, CapFailover,
// CapCompact, CapMultiNode) or more nodes than configured is skipped, and
// the skip message names what is missing.
//
// # From a backend's own test
//
// Write a Harness that starts N nodes of your backend (fresh directories
// under t.TempDir, stopped in t.Cleanup) and run the suite:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, myHarness{})
//	}
//
// Every check becomes a subtest named after it, so
// `go test -run 'TestConformance/Watch/'` selects a group. RunConfig takes
// a Config (cluster size, session timeout, parallel subtests). The same
// backend can be run three ways with no more code:
//
//	conformance.Run(t, myHarness{})                          // the Go value
//	conformance.Run(t, conformance.GRPCHarness(myHarness{})) // through the plugin gRPC adapters
//	conformance.Run(t, conformance.ProcessHarness(conformance.ProcessConfig{
//		Path: pluginBinary, // plugin subprocesses via plugins.Load
//	}))
//
// MemoryHarness is the in-memory reference backend's harness, and the
// suite's own test bed.
//
// # From the command line
//
// The chronik-conformance command runs every check against a plugin binary
// through the real go-plugin path (ProcessHarness):
//
//	go install github.com/chronik-go/chronik/conformance/cmd/chronik-conformance@latest
//	chronik-conformance --plugin ./chronik-metadata-NAME --nodes 3 \
//		--session-timeout 1s --set key=value -v
//
// It prints PASS, FAIL (with the messages) or SKIP (with the reason) per
// check and ends with "N passed, N failed, N skipped"; it exits 1 if a
// check failed. --run REGEX selects checks, --list lists them.
//
// # Running checks outside go test
//
// Runner runs checks outside `go test` with its own T (Fatalf, FailNow and
// Skipf end the check's goroutine with runtime.Goexit; cleanups run last-in
// first-out after the check; each check has its own temporary
// directories). The CLI and the suite's self-test use it.
//
// # Timing
//
// The suite polls with deadlines and never sleeps to order events. With the
// default session timeout of one second, a broker must be fenced no sooner
// than the timeout after its last heartbeat and no later than twice the
// timeout plus three seconds; a broker heartbeating every quarter timeout
// must never be fenced. Calls that must fail without a quorum get a 2.5 s
// deadline and must return an error matching metadata.ErrUnavailable
// (errors.Is) within one second after it: the contract says ErrUnavailable,
// so a bare context.DeadlineExceeded fails the check.
package conformance
