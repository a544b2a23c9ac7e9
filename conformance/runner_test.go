package conformance

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// fakeHarness declares capabilities and never starts anything: the Runner
// tests below exercise the T, not a backend.
type fakeHarness struct{ caps []metadata.Capability }

func (h fakeHarness) Name() string                        { return "fake" }
func (h fakeHarness) Capabilities() []metadata.Capability { return h.caps }
func (h fakeHarness) Start(t T, _ Options) Cluster {
	t.Fatalf("fake harness starts nothing")
	return nil
}

func runOne(t *testing.T, c Check, r Runner) Result {
	t.Helper()
	if r.Harness == nil {
		r.Harness = fakeHarness{caps: []metadata.Capability{metadata.CapMultiNode}}
	}
	if r.TempDir == "" {
		r.TempDir = t.TempDir()
	}
	return r.RunCheck(c)
}

func TestRunnerFatalEndsCheckAndRunsCleanupsLIFO(t *testing.T) {
	var order []string
	reached := false
	res := runOne(t, Check{Name: "X/Fatal", Run: func(tt T, _ Harness, _ Options) {
		tt.Cleanup(func() { order = append(order, "first") })
		tt.Cleanup(func() {
			order = append(order, "second")
			tt.Cleanup(func() { order = append(order, "nested") })
		})
		tt.Logf("before %d", 1)
		tt.Fatalf("boom %d", 2)
		reached = true
	}}, Runner{})
	if res.Status != StatusFail || reached {
		t.Fatalf("status %v, code after Fatalf reached %v", res.Status, reached)
	}
	if !slices.Equal(order, []string{"second", "nested", "first"}) {
		t.Errorf("cleanup order %v, want second, nested, first", order)
	}
	if !slices.Equal(res.Log, []string{"before 1", "FAIL: boom 2"}) || !slices.Equal(res.Failures(), []string{"boom 2"}) {
		t.Errorf("log %q failures %q", res.Log, res.Failures())
	}
}

func TestRunnerErrorfContinues(t *testing.T) {
	reached := false
	res := runOne(t, Check{Name: "X/Errorf", Run: func(tt T, _ Harness, _ Options) {
		tt.Errorf("first")
		if !tt.Failed() {
			t.Errorf("Failed() false after Errorf")
		}
		reached = true
	}}, Runner{})
	if res.Status != StatusFail || !reached {
		t.Fatalf("status %v reached %v", res.Status, reached)
	}
}

func TestRunnerSkipAndFailNow(t *testing.T) {
	res := runOne(t, Check{Name: "X/Skip", Run: func(tt T, _ Harness, _ Options) {
		tt.Skipf("not today: %s", "reason")
		t.Errorf("code after Skipf ran")
	}}, Runner{})
	if res.Status != StatusSkip || res.Reason != "not today: reason" {
		t.Errorf("got %v %q", res.Status, res.Reason)
	}
	res = runOne(t, Check{Name: "X/FailNow", Run: func(tt T, _ Harness, _ Options) {
		tt.FailNow()
		t.Errorf("code after FailNow ran")
	}}, Runner{})
	if res.Status != StatusFail {
		t.Errorf("FailNow: got %v", res.Status)
	}
}

func TestRunnerPanicIsFailure(t *testing.T) {
	res := runOne(t, Check{Name: "X/Panic", Run: func(tt T, _ Harness, _ Options) { panic("kaput") }}, Runner{})
	if res.Status != StatusFail || len(res.Failures()) != 1 || !strings.Contains(res.Failures()[0], "panic: kaput") {
		t.Errorf("got %v %q", res.Status, res.Log)
	}
}

func TestRunnerTempDirRemovedAfterCleanups(t *testing.T) {
	var dir string
	existedInCleanup := false
	res := runOne(t, Check{Name: "X/Temp Dir", Run: func(tt T, _ Harness, _ Options) {
		dir = tt.TempDir()
		if d2 := tt.TempDir(); d2 == dir {
			t.Errorf("two TempDir calls returned %s", dir)
		}
		if err := os.WriteFile(dir+"/f", []byte("x"), 0o644); err != nil {
			t.Errorf("write: %v", err)
		}
		tt.Cleanup(func() {
			_, err := os.Stat(dir + "/f")
			existedInCleanup = err == nil
		})
	}}, Runner{})
	if res.Status != StatusPass || !existedInCleanup {
		t.Fatalf("status %v, dir present in cleanup %v", res.Status, existedInCleanup)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there after the check: %v", dir, err)
	}
}

func TestRunnerTimeoutFailsAndRunsCleanups(t *testing.T) {
	release := make(chan struct{})
	res := runOne(t, Check{Name: "X/Hang", Run: func(tt T, _ Harness, _ Options) {
		tt.Cleanup(func() { close(release) })
		<-release
	}}, Runner{CheckTimeout: 50 * time.Millisecond})
	if res.Status != StatusFail || !strings.Contains(strings.Join(res.Failures(), " "), "did not finish within") {
		t.Errorf("got %v %q", res.Status, res.Log)
	}
}

func TestPlanSkipsNamingWhatIsMissing(t *testing.T) {
	single := fakeHarness{}
	multi := fakeHarness{caps: []metadata.Capability{metadata.CapMultiNode}}
	cases := []struct {
		h        Harness
		c        Check
		cfg      Config
		skip     string // substring; "" means run
		wantNode int
	}{
		{single, Check{}, Config{}, "", 1},
		{multi, Check{}, Config{}, "", 3},
		{multi, Check{}, Config{Nodes: 5}, "", 5},
		{single, Check{MinNodes: 3}, Config{}, `needs capability "multi-node"`, 0},
		{multi, Check{MinNodes: 3}, Config{Nodes: 2}, "needs at least 3 nodes", 0},
		{multi, Check{Needs: []metadata.Capability{metadata.CapPersistence}}, Config{}, `needs capability "persistence"`, 0},
	}
	for i, c := range cases {
		opts, skip := c.c.Plan(c.h, c.cfg)
		if c.skip == "" {
			if skip != "" || opts.Nodes != c.wantNode || opts.SessionTimeout != DefaultSessionTimeout {
				t.Errorf("case %d: opts %+v skip %q; want %d nodes", i, opts, skip, c.wantNode)
			}
		} else if !strings.Contains(skip, c.skip) {
			t.Errorf("case %d: skip %q, want it to say %q", i, skip, c.skip)
		}
	}
}

func TestRunnerSummaryAndMatch(t *testing.T) {
	match, err := MatchRegexp("^A/")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	checks := []Check{
		{Name: "A/Pass", Run: func(T, Harness, Options) {}},
		{Name: "A/Fail", Run: func(tt T, _ Harness, _ Options) { tt.Errorf("no") }},
		{Name: "A/Skip", Needs: []metadata.Capability{metadata.CapFailover}, Run: func(T, Harness, Options) {}},
		{Name: "B/NotSelected", Run: func(tt T, _ Harness, _ Options) { tt.Errorf("ran") }},
	}
	s := Runner{Harness: fakeHarness{}, Match: match, TempDir: t.TempDir(),
		OnResult: func(r Result) { seen = append(seen, r.Status.String()+" "+r.Name) }}.Run(checks)
	if got := s.String(); got != "1 passed, 1 failed, 1 skipped" {
		t.Errorf("summary %q", got)
	}
	if !slices.Equal(seen, []string{"PASS A/Pass", "FAIL A/Fail", "SKIP A/Skip"}) {
		t.Errorf("results %v", seen)
	}
	if _, err := MatchRegexp("("); err == nil {
		t.Errorf("bad pattern accepted")
	}
}

func TestCheckNamesUniqueAndDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks() {
		if seen[c.Name] || !strings.Contains(c.Name, "/") || c.Clause == "" || c.Run == nil {
			t.Errorf("check %q: duplicate, unnamed group, no clause or no Run", c.Name)
		}
		seen[c.Name] = true
	}
}
