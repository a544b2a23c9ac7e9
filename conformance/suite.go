package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Suite defaults. They are what Run uses; RunConfig and Runner take a Config
// to override them.
const (
	// DefaultNodes is the cluster size of multi-node checks.
	DefaultNodes = 3
	// DefaultSessionTimeout is the broker session timeout the suite asks
	// every cluster to use. It is short so that the liveness checks are fast,
	// and long enough that a heartbeating broker is not fenced when the
	// machine is saturated (race detector, several suites at once on two
	// cores: 1 s was seen to miss four heartbeats in a row there).
	DefaultSessionTimeout = 2 * time.Second
)

// Config tunes a run of the suite.
type Config struct {
	// Nodes is the size of the clusters the checks start when the harness
	// declares metadata.CapMultiNode (1 otherwise). Checks that need more
	// nodes than this are skipped. Zero means DefaultNodes.
	Nodes int
	// SessionTimeout is passed to every cluster. Liveness deadlines scale
	// with it. Zero means DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Parallel makes RunConfig mark every check's subtest t.Parallel(). Only
	// for harnesses whose clusters are independent of each other (fresh
	// directories and ports), and on machines with spare cores: the liveness
	// checks measure time.
	Parallel bool
}

// DefaultConfig returns the Config that Run uses.
func DefaultConfig() Config {
	return Config{Nodes: DefaultNodes, SessionTimeout: DefaultSessionTimeout}
}

func (c Config) withDefaults() Config {
	if c.Nodes <= 0 {
		c.Nodes = DefaultNodes
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	return c
}

// Check is one clause of the metadata contract, verified against a fresh
// cluster of a harness.
type Check struct {
	// Name is stable and hierarchical ("Registration/VisibleOnEveryNode"):
	// it is the subtest name under Run and what --run matches in the CLI.
	Name string
	// Clause says in one sentence what the check proves.
	Clause string
	// Needs are the capabilities the harness must declare; the check is
	// skipped (naming the first missing one) otherwise.
	Needs []metadata.Capability
	// MinNodes is the smallest cluster the check can prove its clause on.
	// More than 1 needs metadata.CapMultiNode.
	MinNodes int
	// Run performs the check. It starts its own cluster with
	// h.Start(t, opts) and reports through t.
	Run func(t T, h Harness, opts Options)
}

// Plan decides how c runs against h under cfg: the Options to start its
// cluster with, or a non-empty reason to skip it (a missing capability or
// too few nodes, named).
func (c Check) Plan(h Harness, cfg Config) (opts Options, skip string) {
	cfg = cfg.withDefaults()
	caps := h.Capabilities()
	for _, need := range c.Needs {
		if !slices.Contains(caps, need) {
			return Options{}, fmt.Sprintf("needs capability %q, which harness %s does not declare", need, h.Name())
		}
	}
	nodes := 1
	if slices.Contains(caps, metadata.CapMultiNode) {
		nodes = cfg.Nodes
	}
	min := max(c.MinNodes, 1)
	if nodes < min {
		if min > 1 && !slices.Contains(caps, metadata.CapMultiNode) {
			return Options{}, fmt.Sprintf("needs capability %q (at least %d nodes), which harness %s does not declare", metadata.CapMultiNode, min, h.Name())
		}
		return Options{}, fmt.Sprintf("needs at least %d nodes, the run is configured for %d", min, nodes)
	}
	return Options{Nodes: nodes, SessionTimeout: cfg.SessionTimeout}, ""
}

// Checks returns every check of the suite in a stable order. The slice is
// new on every call; the caller may filter it.
func Checks() []Check {
	var all []Check
	all = append(all, registrationChecks()...)
	all = append(all, livenessChecks()...)
	all = append(all, watchChecks()...)
	all = append(all, consistencyChecks()...)
	all = append(all, topicChecks()...)
	all = append(all, topicUpdateChecks()...)
	all = append(all, partitionChecks()...)
	all = append(all, producerIDChecks()...)
	all = append(all, clusterIDChecks()...)
	all = append(all, persistenceChecks()...)
	all = append(all, faultChecks()...)
	all = append(all, errorChecks()...)
	return all
}

// CheckNames returns the names of Checks(), in order.
func CheckNames() []string {
	var names []string
	for _, c := range Checks() {
		names = append(names, c.Name)
	}
	return names
}

// Run runs every check of the suite against h with DefaultConfig, one
// subtest per check. Use it from a backend's own test:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, myHarness) }
func Run(t *testing.T, h Harness) {
	t.Helper()
	RunConfig(t, h, DefaultConfig())
}

// RunConfig is Run with an explicit Config.
func RunConfig(t *testing.T, h Harness, cfg Config) {
	t.Helper()
	cfg = cfg.withDefaults()
	for _, c := range Checks() {
		t.Run(c.Name, func(t *testing.T) {
			if cfg.Parallel {
				t.Parallel()
			}
			opts, skip := c.Plan(h, cfg)
			if skip != "" {
				t.Skip(skip)
			}
			c.Run(t, h, opts)
		})
	}
}

// Status is the outcome of one check run by a Runner.
type Status int

// The outcomes of a check.
const (
	StatusPass Status = iota
	StatusFail
	StatusSkip
)

// String returns "PASS", "FAIL" or "SKIP".
func (s Status) String() string {
	switch s {
	case StatusPass:
		return "PASS"
	case StatusFail:
		return "FAIL"
	case StatusSkip:
		return "SKIP"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is what a Runner records of one check.
type Result struct {
	// Name is the check's name.
	Name string
	// Status is how it ended.
	Status Status
	// Reason is the skip message of a skipped check.
	Reason string
	// Log holds every Logf, Errorf, Fatalf and Skipf message of the check,
	// in order; the failure messages are among them, prefixed "FAIL: ".
	Log []string
	// Duration is the wall time of the check including its cleanups.
	Duration time.Duration
}

// Failures returns the failure messages of r.
func (r Result) Failures() []string {
	var out []string
	for _, l := range r.Log {
		if msg, ok := strings.CutPrefix(l, failPrefix); ok {
			out = append(out, msg)
		}
	}
	return out
}

// Summary is the outcome of a Runner's run.
type Summary struct {
	// Results are the checks run, in order.
	Results []Result
	// Passed, Failed and Skipped count them by status.
	Passed, Failed, Skipped int
}

// String returns the summary line, e.g. "23 passed, 0 failed, 2 skipped".
func (s Summary) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

// FailedNames returns the names of the failed checks, in run order.
func (s Summary) FailedNames() []string {
	var out []string
	for _, r := range s.Results {
		if r.Status == StatusFail {
			out = append(out, r.Name)
		}
	}
	return out
}
