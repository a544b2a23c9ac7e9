package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
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

func TestClusterCommandErrors(t *testing.T) {
	if out, err := runCLI(t, "cluster", "add-voter", "--broker", "127.0.0.1:1", "--id", "2"); err == nil || !strings.Contains(out, "--address are required") {
		t.Fatalf("missing address: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "cluster", "members", "--broker", freePort(t), "--timeout", "2s"); err == nil || !strings.Contains(out, "cluster: broker") {
		t.Fatalf("unreachable broker: %v\n%s", err, out)
	}
}
