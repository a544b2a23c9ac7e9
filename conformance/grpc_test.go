package conformance

import "testing"

// TestMemoryGRPC runs the whole suite against the memory backend behind the
// plugin gRPC adapters, in process (the second of the three modes).
func TestMemoryGRPC(t *testing.T) { Run(t, GRPCHarness(MemoryHarness())) }
