package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Result is the outcome of one check.
type Result struct {
	Name     string
	Err      error    // nil: passed
	Notes    []string // measurements and what was done
	Duration time.Duration
}

// Summary is the outcome of a run.
type Summary struct {
	Results        []Result
	Passed, Failed int
	// Logs is the end of every broker's output when a check failed.
	Logs string
}

// RunAll starts the cluster, runs every check in order (the topic-latency
// measurement only with cfg.Perf), calls report after each one, and stops
// the cluster. The error is for a cluster that could not start; failed
// checks are in the Summary. ctx bounds the whole run.
func RunAll(ctx context.Context, cfg Config, report func(Result)) (Summary, error) {
	var sum Summary
	c, err := Start(ctx, cfg)
	if err != nil {
		return sum, err
	}
	defer c.Close()
	s := &suite{c: c}
	for _, chk := range Checks() {
		if chk.Perf && !c.cfg.Perf || !c.cfg.Match(chk.Name) {
			continue
		}
		r := Result{Name: chk.Name}
		s.logf = func(format string, args ...any) {
			r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
			c.cfg.Logf(chk.Name+": "+format, args...)
		}
		start := time.Now()
		r.Err = chk.run(ctx, s)
		r.Duration = time.Since(start)
		if r.Err != nil {
			sum.Failed++
			if sum.Logs == "" {
				sum.Logs = c.Logs()
			}
		} else {
			sum.Passed++
		}
		sum.Results = append(sum.Results, r)
		if report != nil {
			report(r)
		}
	}
	return sum, nil
}

// Run runs the suite from a Go test: one subtest per check (in order, on
// one shared cluster), measurements logged, the brokers' last log lines
// logged when a check fails. cfg.Logf defaults to t.Logf.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := &suite{c: c}
	for _, chk := range Checks() {
		if chk.Perf && !c.cfg.Perf || !c.cfg.Match(chk.Name) {
			continue
		}
		ok := t.Run(chk.Name, func(t *testing.T) {
			s.logf = t.Logf
			if err := chk.run(ctx, s); err != nil {
				t.Fatalf("%s: %v", chk.Clause, err)
			}
		})
		if !ok {
			t.Logf("broker logs:\n%s", c.Logs())
		}
	}
}

// Format renders a Result as the CLI prints it.
func (r Result) Format() string {
	var b strings.Builder
	status := "PASS"
	if r.Err != nil {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s (%v)\n", status, r.Name, r.Duration.Round(time.Millisecond))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "    %s\n", n)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "    error: %v\n", r.Err)
	}
	return b.String()
}
