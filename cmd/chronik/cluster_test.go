package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	clustersuite "github.com/chronik-go/chronik/conformance/cluster"
	"github.com/chronik-go/chronik/core/broker"
)

// runCLI runs the chronik binary with args and returns its combined output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(chronikBinary, args...).CombinedOutput()
	return string(out), err
}

// TestClusterAddAndRemoveVoter grows a running one-node Raft metadata
// quorum to two voters with `chronik cluster add-voter`, without restarting
// anything, and shrinks it again with remove-member.
func TestClusterAddAndRemoveVoter(t *testing.T) {
	p1 := startChronik(t, t.TempDir(), "--broker-id", "1")
	p1.waitReady(t)

	addr2 := freePort(t)
	p2 := startChronik(t, t.TempDir(), "--broker-id", "2", "--metadata.address", addr2,
		"--metadata.set", "raft.bootstrap=false")

	out, err := runCLI(t, "cluster", "add-voter", "--broker", p1.http, "--id", "2", "--address", addr2)
	if err != nil || !strings.Contains(out, "added 2") {
		t.Fatalf("cluster add-voter: %v\n%s", err, out)
	}
	// The joined node replicates the metadata: its broker registers
	// through the quorum and becomes ready.
	p2.waitReady(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err = runCLI(t, "cluster", "members", "--broker", p2.http)
		if err == nil && strings.Count(out, " voter ") == 2 && strings.Contains(out, `leader "1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 does not see two voters led by 1: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, err = runCLI(t, "cluster", "remove-member", "--broker", p1.http, "--id", "2")
	if err != nil || !strings.Contains(out, "removed 2") {
		t.Fatalf("cluster remove-member: %v\n%s", err, out)
	}
	out, err = runCLI(t, "cluster", "members", "--broker", p1.http)
	if err != nil || strings.Count(out, " voter ") != 1 {
		t.Fatalf("after remove: %v\n%s", err, out)
	}
	p2.stop(t)
	p1.stop(t)
}

// TestClusterAddNonvoter adds a fresh node to a running one-node Raft
// metadata quorum as a non-voter with `chronik cluster add-nonvoter`: the
// members list shows it as a non-voter, it replicates (its broker becomes
// ready through the quorum and lists topics created on the first node),
// then `cluster add-voter` through the new node promotes it and
// remove-member takes it out again.
func TestClusterAddNonvoter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := startChronik(t, t.TempDir(), "--broker-id", "1")
	p1.waitReady(t)
	createTopics(ctx, t, p1.kafka, 1, "before-join")

	addr2 := freePort(t)
	p2 := startChronik(t, t.TempDir(), "--broker-id", "2", "--metadata.address", addr2,
		"--metadata.set", "raft.bootstrap=false")
	out, err := runCLI(t, "cluster", "add-nonvoter", "--broker", p1.http, "--id", "2", "--address", addr2)
	if err != nil || !strings.Contains(out, "added 2 ("+addr2+") as a non-voter") {
		t.Fatalf("cluster add-nonvoter: %v\n%s", err, out)
	}
	p2.waitReady(t)
	memberRow := func(id, addr, role string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + id + `\s+` + regexp.QuoteMeta(addr) + `\s+` + role + `\s`)
	}
	// Both nodes list 1 as the leading voter and 2 as a non-voter.
	for _, p := range []*chronikProc{p1, p2} {
		eventually(t, 20*time.Second, "members with 2 as a non-voter on "+p.http, func() (bool, string) {
			out, err := runCLI(t, "cluster", "members", "--broker", p.http)
			return err == nil && strings.Contains(out, `leader "1"`) && strings.Count(out, " voter ") == 1 &&
				memberRow("2", addr2, "non-voter").MatchString(out), out
		})
	}
	// The non-voter replicates: its broker lists a topic created on the
	// first node before it joined and one created after.
	createTopics(ctx, t, p1.kafka, 1, "after-join")
	cl, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(t, 20*time.Second, "broker 2 listing both topics", func() (bool, string) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tds, err := kadm.NewClient(cl).ListTopics(lctx)
		if err != nil {
			return false, err.Error()
		}
		return tds.Has("before-join") && tds.Has("after-join"), fmt.Sprint(tds.Names())
	})

	// Promote it, through itself (the non-voter forwards to the leader).
	out, err = runCLI(t, "cluster", "add-voter", "--broker", p2.http, "--id", "2", "--address", addr2)
	if err != nil || !strings.Contains(out, "added 2 ("+addr2+") as a voter") {
		t.Fatalf("cluster add-voter of the non-voter: %v\n%s", err, out)
	}
	out, err = runCLI(t, "cluster", "members", "--broker", p1.http)
	if err != nil || strings.Count(out, " voter ") != 2 || !memberRow("2", addr2, "voter").MatchString(out) {
		t.Fatalf("members after promoting 2: %v\n%s", err, out)
	}

	out, err = runCLI(t, "cluster", "remove-member", "--broker", p1.http, "--id", "2")
	if err != nil || !strings.Contains(out, "removed 2") {
		t.Fatalf("cluster remove-member: %v\n%s", err, out)
	}
	out, err = runCLI(t, "cluster", "members", "--broker", p1.http)
	if err != nil || strings.Count(out, " voter ") != 1 || strings.Contains(out, addr2) {
		t.Fatalf("members after removing 2: %v\n%s", err, out)
	}
	// The remaining one-voter quorum still takes writes.
	createTopics(ctx, t, p1.kafka, 1, "after-remove")
	p2.stop(t)
	p1.stop(t)
}

func TestClusterCommandErrors(t *testing.T) {
	if out, err := runCLI(t, "cluster", "add-voter", "--broker", "127.0.0.1:1", "--id", "2"); err == nil || !strings.Contains(out, "--address are required") {
		t.Fatalf("missing address: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "cluster", "members", "--broker", freePort(t), "--timeout", "2s"); err == nil || !strings.Contains(out, "cluster: broker") {
		t.Fatalf("unreachable broker: %v\n%s", err, out)
	}
}

// clusterStatus runs `chronik cluster status --json` against a broker's
// HTTP port.
func clusterStatus(t *testing.T, httpAddr string) (broker.ClusterStatus, error) {
	t.Helper()
	out, err := exec.Command(chronikBinary, "cluster", "status", "--json", "--broker", httpAddr, "--timeout", "5s").Output()
	if err != nil {
		return broker.ClusterStatus{}, fmt.Errorf("cluster status: %w", err)
	}
	var st broker.ClusterStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("cluster status --json: %w\n%s", err, out)
	}
	return st, nil
}

// TestClusterStatus: `chronik cluster status` shows a running broker live
// with its epoch, address and as controller, as a table and as JSON, and
// fails when the broker cannot be reached.
func TestClusterStatus(t *testing.T) {
	p := startChronik(t, t.TempDir(), "--broker-id", "4", "--rack", "east")
	p.waitReady(t)
	st, err := clusterStatus(t, p.http)
	if err != nil {
		t.Fatal(err)
	}
	if st.BrokerID != 4 || !st.Ready || st.ControllerID != 4 || len(st.Brokers) != 1 || len(st.Offline) != 0 {
		t.Fatalf("status = %+v", st)
	}
	b := st.Brokers[0]
	if b.ID != 4 || b.State != broker.BrokerLive || b.Epoch <= 0 || b.Rack != "east" ||
		len(b.Listeners) != 1 || b.Listeners[0].Address != p.kafka {
		t.Fatalf("broker = %+v, want 4 live in east at %s", b, p.kafka)
	}
	out, err := runCLI(t, "cluster", "status", "--broker", p.http)
	wantRow := regexp.MustCompile(`(?m)^4\s+live\s+` + fmt.Sprint(b.Epoch) + `\s+` + regexp.QuoteMeta(p.kafka) + `\s+east\s+\*\s*$`)
	if err != nil || !wantRow.MatchString(out) || !strings.Contains(out, "1 live of 1 registered, controller 4") {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	p.stop(t)

	// The broker is gone: a non-zero exit naming the address.
	out, err = runCLI(t, "cluster", "status", "--broker", p.http, "--timeout", "2s")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(out, "cluster: broker "+p.http) {
		t.Fatalf("status of a stopped broker: %v\n%s", err, out)
	}
}

// TestClusterSuiteRaft runs the cluster conformance suite (three chronik
// processes of this binary) on the embedded Raft backend.
func TestClusterSuiteRaft(t *testing.T) {
	clustersuite.Run(t, clustersuite.Config{Binary: chronikBinary, Backend: "raft", Dir: t.TempDir(), Perf: testing.Verbose()})
}

// TestClusterSuiteEtcd runs the cluster conformance suite on the etcd
// backend, against a real one-member etcd (Debian's etcd-server) under a
// fresh key prefix, through the chronik-conformance CLI the way a user
// runs it: `chronik-conformance cluster --chronik BIN --metadata etcd
// --etcd-endpoints HOST:PORT`.
func TestClusterSuiteEtcd(t *testing.T) {
	endpoint := startEtcd(t)
	cli := filepath.Join(t.TempDir(), "chronik-conformance")
	if out, err := exec.Command("go", "build", "-o", cli, "github.com/chronik-go/chronik/conformance/cmd/chronik-conformance").CombinedOutput(); err != nil {
		t.Fatalf("building chronik-conformance: %v\n%s", err, out)
	}
	args := []string{"cluster", "--chronik", chronikBinary, "--metadata", "etcd", "--etcd-endpoints", endpoint, "--keep", t.TempDir()}
	if testing.Verbose() {
		args = append(args, "--perf")
	}
	out, err := exec.Command(cli, args...).CombinedOutput()
	t.Logf("chronik-conformance %s:\n%s", strings.Join(args, " "), out)
	if err != nil || !strings.Contains(string(out), " passed, 0 failed") || strings.Contains(string(out), "FAIL") {
		t.Fatalf("chronik-conformance cluster on etcd: %v", err)
	}
	for _, check := range clustersuite.Checks() {
		if !strings.Contains(string(out), "PASS "+check.Name) && (!check.Perf || testing.Verbose()) {
			t.Errorf("no PASS line for %s", check.Name)
		}
	}
}

// startEtcd runs a one-member etcd server (the etcd binary from PATH; on
// Debian: apt-get install etcd-server) on free loopback ports and returns
// its client endpoint host:port once it answers /health.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("this test needs an etcd server binary in PATH (Debian: apt-get install etcd-server): %v", err)
	}
	client, peer := freePort(t), freePort(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--name", "conformance", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "conformance=http://"+peer, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("etcd output:\n%s", out.String())
		}
	})
	eventually(t, 30*time.Second, "etcd answers /health", func() (bool, string) {
		resp, err := http.Get("http://" + client + "/health")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(body), `"true"`), string(body)
	})
	return client
}

// TestClusterSuiteCatchesSelfOnlyBrokers: the suite is not vacuous. Three
// brokers that each run their own one-node Raft (the seed incident: every
// node lists only itself) fail brokers-listed, naming what was listed.
func TestClusterSuiteCatchesSelfOnlyBrokers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := clustersuite.RunAll(ctx, clustersuite.Config{Binary: chronikBinary, Backend: "raft", Dir: t.TempDir(),
		Args:        []string{"--metadata.peers="}, // after the suite's peers: each node alone
		ListTimeout: 3 * time.Second,
		Match:       func(name string) bool { return name == "brokers-listed" },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || len(sum.Results) != 1 || sum.Results[0].Err == nil ||
		!strings.Contains(sum.Results[0].Err.Error(), "brokers map[1:") {
		t.Fatalf("self-only brokers: %+v", sum.Results)
	}
	t.Logf("brokers-listed on three one-node clusters: %v", sum.Results[0].Err)
}
