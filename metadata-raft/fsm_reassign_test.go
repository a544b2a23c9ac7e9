package raftmeta

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestFSMReassignmentFields: an AlterPartition command carries Adding and
// Removing with Replicas; a later change without Replicas keeps them and
// one with Replicas only clears them; they survive a snapshot; commands
// and snapshots written before the fields existed (no "Adding"/"Removing"
// in their JSON) still decode, as partitions without a reassignment.
func TestFSMReassignmentFields(t *testing.T) {
	h := newFSMHarness(t, 100)
	h.apply(cmdCreateTopic, createTopicBody{Spec: testSpec("t")})
	part := func(h *fsmHarness) metadata.Partition { return h.f.stateClone().Topics["t"].Partitions[0] }
	check := func(what string, p metadata.Partition, replicas, adding, removing []int32) {
		t.Helper()
		if !slices.Equal(p.Replicas, replicas) || !slices.Equal(p.Adding, adding) || !slices.Equal(p.Removing, removing) {
			t.Fatalf("%s: %+v, want replicas %v adding %v removing %v", what, p, replicas, adding, removing)
		}
	}

	// An old command: the JSON of a PartitionChange without the new fields.
	old := json.RawMessage(`{"change":{"Topic":"t","Partition":0,"ExpectedPartitionEpoch":0,"Leader":1,"ISR":[1,2],"Replicas":[1,2]}}`)
	if r := h.apply(cmdAlterPartition, old); r.Code != "" || r.Partition == nil {
		t.Fatalf("old AlterPartition command: %+v", r)
	}
	check("after an old command", part(h), []int32{1, 2}, nil, nil)

	r := h.apply(cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 1, Leader: 1, ISR: []int32{1, 2},
		Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}})
	if r.Code != "" {
		t.Fatalf("start: %+v", r)
	}
	check("returned after starting", *r.Partition, []int32{3, 2, 1}, []int32{3}, []int32{1})
	check("after starting", part(h), []int32{3, 2, 1}, []int32{3}, []int32{1})
	if r := h.apply(cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 2, Leader: 2, ISR: []int32{1, 2, 3}}}); r.Code != "" {
		t.Fatalf("ISR change: %+v", r)
	}
	check("after an ISR change", part(h), []int32{3, 2, 1}, []int32{3}, []int32{1})
	if r := h.apply(cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 3, Leader: 2, ISR: []int32{1}, Adding: []int32{1}}}); r.Code != codeInvalid {
		t.Fatalf("Adding without Replicas accepted: %+v", r)
	}
	check("after an invalid change", part(h), []int32{3, 2, 1}, []int32{3}, []int32{1})
	g := h.snapshotRestore()
	check("after a snapshot", part(g), []int32{3, 2, 1}, []int32{3}, []int32{1})

	if r := h.apply(cmdAlterPartition, alterPartitionBody{Change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 3, Leader: 2, ISR: []int32{2, 3}, Replicas: []int32{3, 2}}}); r.Code != "" {
		t.Fatalf("complete: %+v", r)
	}
	check("after completing", part(h), []int32{3, 2}, nil, nil)

	// An old snapshot: the same JSON without the new fields.
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	data := sink.Bytes()
	if !bytes.Contains(data, []byte(`"Adding":null,"Removing":null`)) {
		t.Fatalf("snapshot JSON has no null Adding/Removing: %s", data)
	}
	data = bytes.ReplaceAll(data, []byte(`,"Adding":null,"Removing":null`), nil)
	o := newFSMHarness(t, 100)
	if err := o.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restoring an old snapshot: %v", err)
	}
	check("after restoring an old snapshot", part(o), []int32{3, 2}, nil, nil)
}
