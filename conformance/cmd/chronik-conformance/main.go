// Command chronik-conformance runs the chronik metadata conformance suite
// against a backend plugin binary, through the real go-plugin path: every
// node of every cluster is a plugin subprocess (conformance.ProcessHarness).
//
//	chronik-conformance --plugin ./chronik-metadata-NAME [--nodes 3]
//	    [--session-timeout 2s] [--set key=value ...] [--arg ARG ...]
//	    [--run REGEX] [--timeout 3m] [-v] [--list]
//	chronik-conformance cluster --chronik ./bin/chronik [--metadata raft|etcd|PATH] ...
//
// Each check prints PASS, FAIL (with its failure messages) or SKIP (with
// the reason: a capability the plugin does not declare, or too few nodes);
// -v also prints every check's log, plugin logs included. The last line is
// the summary, "N passed, N failed, N skipped". The exit code is 0 if no
// check failed, 1 if one did, 2 for bad usage or a plugin that cannot be
// probed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronik-go/chronik/conformance"
	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// run is the whole command; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "cluster" {
		return runCluster(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("chronik-conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		pluginPath = fs.String("plugin", "", "plugin executable to test (required)")
		nodes      = fs.Int("nodes", conformance.DefaultNodes, "nodes per cluster for multi-node checks")
		session    = fs.Duration("session-timeout", conformance.DefaultSessionTimeout, "broker session timeout given to every node")
		runPattern = fs.String("run", "", "run only the checks whose name matches this regular expression")
		timeout    = fs.Duration("timeout", conformance.DefaultCheckTimeout, "bound on one check")
		verbose    = fs.Bool("v", false, "print every check's log, plugin logs included")
		list       = fs.Bool("list", false, "list the checks and exit")
		sets       multiFlag
		pluginArgs multiFlag
	)
	fs.Var(&sets, "set", "backend setting key=value (repeatable)")
	fs.Var(&pluginArgs, "arg", "argument passed to the plugin (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: chronik-conformance --plugin PATH [flags]\n\nRuns the chronik metadata conformance suite against a backend plugin.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, c := range conformance.Checks() {
			fmt.Fprintf(stdout, "%s\n\t%s\n", c.Name, c.Clause)
		}
		return 0
	}
	if *pluginPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *nodes < 1 || *session <= 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "chronik-conformance: --nodes, --session-timeout and --timeout must be positive")
		return 2
	}
	settings := map[string]string{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "chronik-conformance: --set %q: want key=value\n", kv)
			return 2
		}
		settings[k] = v
	}
	match, err := conformance.MatchRegexp(*runPattern)
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance: %v\n", err)
		return 2
	}
	path, err := filepath.Abs(*pluginPath)
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), conformance.DefaultProcessStartTimeout)
	info, err := plugins.Probe(ctx, path, pluginArgs, nil)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance: %v\n", err)
		return 2
	}
	var caps []string
	for _, c := range info.Capabilities {
		caps = append(caps, string(c))
	}
	fmt.Fprintf(stdout, "chronik-conformance: plugin %s %s (%s), capabilities [%s], %d nodes, session timeout %v\n",
		info.Name, info.Version, path, strings.Join(caps, " "), *nodes, *session)

	h := conformance.ProcessHarness(conformance.ProcessConfig{
		Name:         info.Name + "/process",
		Path:         path,
		Args:         pluginArgs,
		Settings:     settings,
		Capabilities: append([]metadata.Capability{}, info.Capabilities...), // non-nil: no second probe
	})
	tmp, err := os.MkdirTemp("", "chronik-conformance-")
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance: %v\n", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	r := conformance.Runner{
		Harness:      h,
		Config:       conformance.Config{Nodes: *nodes, SessionTimeout: *session},
		Match:        match,
		CheckTimeout: *timeout,
		TempDir:      tmp,
		OnResult:     func(res conformance.Result) { printResult(stdout, res, *verbose) },
	}
	s := r.Run(conformance.Checks())
	fmt.Fprintln(stdout, s.String())
	if s.Failed > 0 {
		return 1
	}
	return 0
}

func printResult(w io.Writer, res conformance.Result, verbose bool) {
	d := res.Duration.Round(10 * time.Millisecond)
	switch res.Status {
	case conformance.StatusSkip:
		fmt.Fprintf(w, "SKIP  %s: %s\n", res.Name, res.Reason)
		return
	case conformance.StatusPass:
		fmt.Fprintf(w, "PASS  %s (%v)\n", res.Name, d)
	case conformance.StatusFail:
		fmt.Fprintf(w, "FAIL  %s (%v)\n", res.Name, d)
	}
	lines := res.Log
	if !verbose {
		lines = nil
		for _, f := range res.Failures() {
			lines = append(lines, "FAIL: "+f)
		}
	}
	for _, l := range lines {
		fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(l, "\n", "\n      "))
	}
}
