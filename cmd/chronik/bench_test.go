package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronik-go/chronik/internal/bench"
)

// runBench runs the real binary's `chronik bench ARGS --json` and parses
// its report.
func runBench(t *testing.T, args ...string) bench.Report {
	t.Helper()
	cmd := exec.Command(chronikBinary, append(append([]string{"bench"}, args...), "--json")...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chronik bench %v: %v\n%s%s", args, err, out, stderr)
	}
	var r bench.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("chronik bench %v: report is not JSON (%v):\n%s", args, err, out)
	}
	return r
}

// TestBenchCommands runs `chronik bench produce`, `consume` and `e2e` (about
// a second each) against a chronik broker process and checks that the
// reports parse and show records moved.
func TestBenchCommands(t *testing.T) {
	p := startChronik(t, t.TempDir(), "--http.pprof")
	p.waitReady(t)
	pid := p.cmd.Process.Pid
	// --http.pprof serves the profiles the performance notes were made with.
	resp, err := http.Get("http://" + p.http + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/debug/pprof/heap with --http.pprof: %d", resp.StatusCode)
	}
	common := []string{"--brokers", p.kafka, "--topic", "bench", "--partitions", "3", "--replication-factor", "1", "--record-size", "512"}

	prod := runBench(t, append([]string{"produce", "--duration", "1s", "--watch-pid", strconv.Itoa(pid)}, common...)...)
	if prod.Mode != "produce" || prod.Records == 0 || prod.Bytes != prod.Records*512 || prod.Errors != 0 ||
		prod.Latency == nil || prod.Latency.Samples != uint64(prod.Records) || prod.MiBPerSec <= 0 {
		t.Fatalf("produce report: %+v (latency %+v)", prod, prod.Latency)
	}
	if prod.Partitions != 3 || prod.Acks != "all" || !prod.Idempotent || prod.LingerMs != 5 {
		t.Fatalf("produce report does not echo the settings: %+v", prod)
	}
	if m := prod.Memory; m == nil || m.PID != pid || m.PeakRSS <= 0 {
		t.Fatalf("produce report without the broker's memory: %+v", prod.Memory)
	}

	cons := runBench(t, append([]string{"consume"}, common...)...)
	if cons.Mode != "consume" || cons.Records != prod.Records || cons.Bytes != prod.Bytes || cons.Errors != 0 {
		t.Fatalf("consume report: %+v, produced %d records", cons, prod.Records)
	}

	e2e := runBench(t, append([]string{"e2e", "--duration", "1s", "--rate", "500", "--linger", "0"}, common...)...)
	if e2e.Mode != "e2e" || e2e.Records < 50 || e2e.Errors != 0 || e2e.Latency == nil ||
		e2e.Latency.Samples != uint64(e2e.Records) || e2e.Latency.Max <= 0 {
		t.Fatalf("e2e report: %+v (latency %+v)", e2e, e2e.Latency)
	}

	// The text report, and a bad flag refused.
	out, err := exec.Command(chronikBinary, append([]string{"bench", "produce", "--records", "100"}, common...)...).Output()
	if err != nil || !strings.Contains(string(out), "100 records") || !strings.Contains(string(out), "ack latency ms: p50") {
		t.Fatalf("text report: %v\n%s", err, out)
	}
	if out, err := exec.Command(chronikBinary, "bench", "produce", "--brokers", p.kafka, "--acks", "1").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "idempotent producer needs acks=all") {
		t.Fatalf("--acks 1 with the idempotent producer: %v\n%s", err, out)
	}
	if out, err := exec.Command(chronikBinary, "bench", "produce", "--brokers", p.kafka, "--replication-factor", "-1").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "replication factor -1") {
		t.Fatalf("--replication-factor -1: %v\n%s", err, out)
	}
}

// TestBenchPeerKfake: the hidden reference peer starts, says where it
// listens, takes a load and stops on SIGTERM.
func TestBenchPeerKfake(t *testing.T) {
	cmd := exec.Command(chronikBinary, "bench", "peer-kfake", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr string
	select {
	case l := <-lines:
		var ok bool
		if addr, ok = strings.CutPrefix(l, "kfake listening on "); !ok {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kfake did not start within 30s")
	}
	r := runBench(t, "produce", "--brokers", addr, "--records", "1000", "--record-size", "100")
	if r.Records != 1000 || r.Errors != 0 {
		t.Fatalf("produce to kfake: %+v", r)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("peer-kfake exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("peer-kfake did not stop within 30s of SIGTERM")
	}
}
