package conformance

import (
	"fmt"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func clusterIDChecks() []Check {
	return []Check{
		{
			Name:   "ClusterID/KafkaFormatAndStable",
			Clause: "every Snapshot carries a non-empty cluster id in Kafka's format (22 characters of unpadded base64url, 16 bytes), the same on every call, before and after writes",
			Run:    checkClusterIDStable,
		},
		{
			Name:     "ClusterID/SameOnEveryNode",
			Clause:   "every node's Snapshot carries the same cluster id",
			MinNodes: 2,
			Run:      checkClusterIDEveryNode,
		},
		{
			Name:   "ClusterID/DiffersBetweenClusters",
			Clause: "two clusters started apart (fresh state each) have different cluster ids",
			Run:    checkClusterIDDiffers,
		},
		{
			Name:   "ClusterID/SurvivesRestart",
			Clause: "after every node is stopped (and, again, killed) and restarted, every node's Snapshot carries the cluster id of before",
			Needs:  []metadata.Capability{metadata.CapPersistence},
			Run:    checkClusterIDRestart,
		},
	}
}

// clusterID returns the cluster id of node's Snapshot, failing the check if
// it is not in Kafka's format.
func (e *env) clusterID(node int, what string) string {
	e.t.Helper()
	id := e.snapshot(node).ClusterID
	if err := metadata.ValidateClusterID(id); err != nil {
		e.t.Fatalf("%s: node %d: Snapshot's cluster id: %v", what, node, err)
	}
	return id
}

func checkClusterIDStable(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	first := e.clusterID(0, "fresh cluster")
	for i := range 3 {
		if id := e.clusterID(0, "repeated Snapshot"); id != first {
			t.Fatalf("Snapshot %d: cluster id %q, the first Snapshot said %q", i+2, id, first)
		}
	}
	// Writes of every kind leave it alone.
	b := e.register(0, e.seq.Add(1), newIncarnation())
	e.createTopic(0, topicSpec(fmt.Sprintf("cid-%d", e.seq.Add(1)), 1, b.ID))
	e.allocate(0, 5)
	if id := e.clusterID(0, "after writes"); id != first {
		t.Fatalf("cluster id %q after writes, was %q", id, first)
	}
}

func checkClusterIDEveryNode(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	// Writes through the last node first: a node that forwards writes must
	// not answer another id.
	e.register(e.c.N()-1, e.seq.Add(1), newIncarnation())
	want := e.clusterID(0, "node 0")
	for i := 1; i < e.c.N(); i++ {
		if id := e.clusterID(i, fmt.Sprintf("node %d", i)); id != want {
			t.Errorf("node %d: cluster id %q, node 0 says %q", i, id, want)
		}
	}
}

func checkClusterIDDiffers(t T, h Harness, opts Options) {
	a := start(t, h, opts)
	b := start(t, h, opts)
	ida, idb := a.clusterID(0, "first cluster"), b.clusterID(0, "second cluster")
	if ida == idb {
		t.Fatalf("two clusters share the cluster id %q", ida)
	}
}

func checkClusterIDRestart(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	e.register(0, e.seq.Add(1), newIncarnation())
	want := e.clusterID(0, "before the restarts")
	for _, kill := range []bool{false, true} {
		e.restartAll(kill)
		how := map[bool]string{false: "stopped", true: "killed"}[kill]
		for i := range e.c.N() {
			if id := e.clusterID(i, fmt.Sprintf("every node %s and restarted", how)); id != want {
				t.Errorf("node %d after every node was %s and restarted: cluster id %q, was %q", i, how, id, want)
			}
		}
	}
}
