package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/chronik-go/chronik/conformance/cluster"
)

// runCluster is `chronik-conformance cluster`: the cluster conformance
// suite (package conformance/cluster) against a chronik binary and a
// metadata backend. It returns the exit code: 0 if every check passed, 1
// if one failed, 2 for bad usage or a cluster that could not start.
//
//	chronik-conformance cluster --chronik ./bin/chronik [--metadata raft|etcd|PATH]
//	    [--etcd-endpoints host:port,...] [--etcd-prefix /p/] [--session-timeout 3s]
//	    [--arg FLAG ...] [--perf] [--keep DIR] [--run REGEX] [--list] [--timeout 10m] [-v]
func runCluster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chronik-conformance cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		binary    = fs.String("chronik", "", "the chronik binary to test (required)")
		backend   = fs.String("metadata", "raft", "the brokers' --metadata: raft, etcd, a plugin name or a plugin path")
		endpoints = fs.String("etcd-endpoints", "", "etcd endpoints host:port,... (with --metadata etcd)")
		prefix    = fs.String("etcd-prefix", "", "etcd key prefix (default: a fresh one per run)")
		session   = fs.Duration("session-timeout", cluster.DefaultSessionTimeout, "the brokers' --metadata.session-timeout")
		perf      = fs.Bool("perf", false, "also measure CreateTopics to leaders everywhere over 50 topics")
		keep      = fs.String("keep", "", "make the nodes' directories (data, nodeN.log) under this directory and keep them")
		timeout   = fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
		verbose   = fs.Bool("v", false, "print progress as it happens")
		runRE     = fs.String("run", "", "run only the checks whose name matches this regular expression (later checks rely on earlier ones)")
		list      = fs.Bool("list", false, "list the checks and exit")
		extra     multiFlag
	)
	fs.Var(&extra, "arg", "extra flag given to every broker, e.g. --arg=--metadata.set=key=value (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: chronik-conformance cluster --chronik PATH [flags]\n\n"+
			"Starts 3 chronik brokers as processes over the given metadata backend and\n"+
			"checks the cluster with Kafka clients bootstrapped from one node at a time.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, c := range cluster.Checks() {
			fmt.Fprintf(stdout, "%s\n\t%s\n", c.Name, c.Clause)
		}
		return 0
	}
	if *binary == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *backend == "etcd" && *endpoints == "" {
		fmt.Fprintln(stderr, "chronik-conformance cluster: --metadata etcd needs --etcd-endpoints")
		return 2
	}
	if *session <= 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "chronik-conformance cluster: --session-timeout and --timeout must be positive")
		return 2
	}
	if *keep != "" {
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fmt.Fprintf(stderr, "chronik-conformance cluster: %v\n", err)
			return 2
		}
	}
	re, err := regexp.Compile(*runRE)
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance cluster: --run: %v\n", err)
		return 2
	}
	cfg := cluster.Config{Binary: *binary, Backend: *backend, EtcdEndpoints: *endpoints, EtcdPrefix: *prefix,
		Args: extra, SessionTimeout: *session, Dir: *keep, Perf: *perf, Match: re.MatchString}
	if *verbose {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	fmt.Fprintf(stdout, "chronik-conformance cluster: %s, --metadata %s, 3 brokers, session timeout %v\n", *binary, *backend, *session)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	sum, err := cluster.RunAll(ctx, cfg, func(r cluster.Result) { fmt.Fprint(stdout, r.Format()) })
	if err != nil {
		fmt.Fprintf(stderr, "chronik-conformance cluster: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	if sum.Failed > 0 {
		fmt.Fprintf(stdout, "broker logs:\n%s", sum.Logs)
		return 1
	}
	return 0
}
