package conformance

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// harness, watch collector and wrapper must stop what it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
