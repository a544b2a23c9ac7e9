package conformance

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// DefaultCheckTimeout bounds one check run by a Runner. Every check bounds
// its own calls far below it; it only catches a backend that ignores its
// contexts.
const DefaultCheckTimeout = 3 * time.Minute

// failPrefix marks failure messages in Result.Log.
const failPrefix = "FAIL: "

// Runner runs checks outside `go test`, each on its own goroutine with its
// own T (the chronik-conformance CLI and the suite's self-test use it).
// Checks run one after the other. A Runner is a plain value; use one
// Run call at a time.
type Runner struct {
	// Harness starts the clusters.
	Harness Harness
	// Config tunes the run; zero fields take the defaults.
	Config Config
	// Match selects checks by name; nil runs all of them. MatchRegexp
	// builds one from a --run pattern.
	Match func(name string) bool
	// CheckTimeout bounds one check, cleanups excluded; zero means
	// DefaultCheckTimeout. A check still running at its timeout fails, its
	// cleanups run (stopping its cluster), and the run goes on.
	CheckTimeout time.Duration
	// TempDir is the parent of every check's temporary directories; empty
	// means os.TempDir(). Each check's directories are removed after its
	// cleanups.
	TempDir string
	// OnResult, if set, is called with each result as soon as its check
	// ends (from the goroutine calling Run).
	OnResult func(Result)
}

// MatchRegexp returns a Match function selecting names that contain a match
// of the regular expression pattern (as `go test -run` does for a single
// level). An empty pattern matches everything.
func MatchRegexp(pattern string) (func(name string) bool, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("conformance: bad --run pattern %q: %w", pattern, err)
	}
	return re.MatchString, nil
}

// Run runs each selected check in order and returns the summary. Checks not
// selected by Match are left out of it entirely.
func (r Runner) Run(checks []Check) Summary {
	var s Summary
	for _, c := range checks {
		if r.Match != nil && !r.Match(c.Name) {
			continue
		}
		res := r.RunCheck(c)
		switch res.Status {
		case StatusPass:
			s.Passed++
		case StatusFail:
			s.Failed++
		case StatusSkip:
			s.Skipped++
		}
		s.Results = append(s.Results, res)
		if r.OnResult != nil {
			r.OnResult(res)
		}
	}
	return s
}

// RunCheck runs one check (ignoring Match) and returns its result.
func (r Runner) RunCheck(c Check) Result {
	start := time.Now()
	opts, skip := c.Plan(r.Harness, r.Config)
	if skip != "" {
		return Result{Name: c.Name, Status: StatusSkip, Reason: skip, Log: []string{"SKIP: " + skip}}
	}
	timeout := r.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	rt := newRunT(c.Name, r.TempDir)
	finished := rt.goRun(func() { c.Run(rt, r.Harness, opts) })
	timer := time.NewTimer(timeout)
	select {
	case <-finished:
		timer.Stop()
	case <-timer.C:
		rt.Errorf("check did not finish within %v (a call ignored its context?)", timeout)
	}
	rt.runCleanups()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		rt.Errorf("check goroutine still running 10s after its cleanups; abandoned")
	}
	rt.removeTempDirs()
	return rt.result(time.Since(start))
}

// runT is the T of a Runner: it records everything, ends the calling
// goroutine on Fatalf/FailNow/Skipf (runtime.Goexit, as package testing
// does), runs cleanups last-in first-out after the check, and gives each
// check its own temporary directories. Safe for concurrent use.
type runT struct {
	name    string
	tempDir string // parent directory of TempDir results

	mu       sync.Mutex
	failed   bool
	skipped  bool
	reason   string
	log      []string
	cleanups []func()
	temps    []string
}

var _ T = (*runT)(nil)

func newRunT(name, tempDir string) *runT {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	return &runT{name: name, tempDir: tempDir}
}

// goRun runs f on a new goroutine that Goexit may end, recovering a panic
// as a failure, and returns a channel closed when it is over.
func (t *runT) goRun(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.record(true, fmt.Sprintf("panic: %v\n%s", p, debug.Stack()))
			}
		}()
		f()
	}()
	return done
}

func (t *runT) record(fail bool, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fail {
		t.failed = true
		msg = failPrefix + msg
	}
	t.log = append(t.log, msg)
}

func (t *runT) Helper()      {}
func (t *runT) Name() string { return t.name }

func (t *runT) Logf(format string, args ...any) { t.record(false, fmt.Sprintf(format, args...)) }

func (t *runT) Errorf(format string, args ...any) { t.record(true, fmt.Sprintf(format, args...)) }

func (t *runT) Fatalf(format string, args ...any) {
	t.record(true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (t *runT) FailNow() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	runtime.Goexit()
}

func (t *runT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *runT) Skipf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.mu.Lock()
	t.skipped = true
	t.reason = msg
	t.log = append(t.log, "SKIP: "+msg)
	t.mu.Unlock()
	runtime.Goexit()
}

func (t *runT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// TempDir returns a new directory for each call, removed after the check's
// cleanups. It fails the check if the directory cannot be made.
func (t *runT) TempDir() string {
	pattern := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' {
			return '_'
		}
		return r
	}, t.name) + "-*"
	dir, err := os.MkdirTemp(t.tempDir, pattern)
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.mu.Lock()
	t.temps = append(t.temps, dir)
	t.mu.Unlock()
	return dir
}

// runCleanups runs the registered cleanups last-in first-out, each on its
// own goroutine so that a Fatalf in one does not stop the others. Cleanups
// registered by cleanups run too.
func (t *runT) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		<-t.goRun(f)
	}
}

func (t *runT) removeTempDirs() {
	t.mu.Lock()
	temps := t.temps
	t.temps = nil
	t.mu.Unlock()
	for _, d := range temps {
		if err := os.RemoveAll(d); err != nil {
			t.Logf("removing temp dir: %v", err)
		}
	}
}

func (t *runT) result(d time.Duration) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := Result{Name: t.name, Log: append([]string(nil), t.log...), Duration: d}
	switch {
	case t.failed:
		res.Status = StatusFail
	case t.skipped:
		res.Status = StatusSkip
		res.Reason = t.reason
	default:
		res.Status = StatusPass
	}
	return res
}
