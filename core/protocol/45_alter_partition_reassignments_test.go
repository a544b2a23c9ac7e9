package protocol

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignReq asks for one partition's reassignment (replicas nil:
// cancel).
func reassignReq(v int16, allowRF bool, topic string, p int32, replicas []int32) *kmsg.AlterPartitionAssignmentsRequest {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version, req.AllowReplicationFactorChange, req.TimeoutMillis = v, allowRF, 5000
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = p, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// reassignCode sends req to b and returns the partition's error code.
func reassignCode(t *testing.T, b *Broker, req *kmsg.AlterPartitionAssignmentsRequest) int16 {
	t.Helper()
	resp := roundTrip[*kmsg.AlterPartitionAssignmentsResponse](t, b, req)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("v%d: response %+v", req.Version, resp)
	}
	if req.Version >= 1 && resp.AllowReplicationFactorChange != req.AllowReplicationFactorChange {
		t.Fatalf("v%d: allow_replication_factor_change not echoed", req.Version)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestAlterPartitionReassignments: on every version a reassignment starts
// (the replica set becomes target ++ removing, listed with adding and
// removing), a second request replaces its target, a cancellation restores
// the original replicas (in Kafka's order: the replica set minus the adding
// replicas); the errors of the API.
func TestAlterPartitionReassignments(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	keepAlive(t, st, registerBroker(t, st, b, 3, ""))
	keepAlive(t, st, registerBroker(t, st, b, 4, ""))
	mustCreateTopic(t, b, "move", -1, -1, map[int32][]int32{0: {2, 1}, 1: {1, 2}}, nil)

	for v := int16(0); v <= 1; v++ {
		if code := reassignCode(t, b, reassignReq(v, true, "move", 0, []int32{3, 1})); code != 0 {
			t.Fatalf("v%d: start: %v", v, kerr.ErrorForCode(code))
		}
		list := listReassignments(t, b, nil)
		want := "move/0 replicas [3 1 2] adding [3] removing [2]"
		if len(list) != 1 || list[0] != want {
			t.Fatalf("v%d: listed %q, want [%q]", v, list, want)
		}
		p, _ := b.Cluster.Image().Partition("move", 0)
		if p.Leader != 2 || !slices.Equal(p.ISR, []int32{2, 1}) {
			t.Fatalf("v%d: starting changed the leader or ISR: %+v", v, p)
		}
		// A new target replaces the reassignment; the original stays {1,2},
		// in the order Kafka reads it back: [3 1 2] minus adding [3].
		if code := reassignCode(t, b, reassignReq(v, true, "move", 0, []int32{4, 3})); code != 0 {
			t.Fatalf("v%d: replace: %v", v, kerr.ErrorForCode(code))
		}
		want = "move/0 replicas [4 3 1 2] adding [4 3] removing [1 2]"
		if list := listReassignments(t, b, map[string][]int32{"move": {0, 1}, "nope": {0}}); len(list) != 1 || list[0] != want {
			t.Fatalf("v%d: listed %q, want [%q]", v, list, want)
		}
		if code := reassignCode(t, b, reassignReq(v, true, "move", 0, nil)); code != 0 {
			t.Fatalf("v%d: cancel: %v", v, kerr.ErrorForCode(code))
		}
		p, _ = b.Cluster.Image().Partition("move", 0)
		if !slices.Equal(p.Replicas, []int32{1, 2}) || p.Leader != 2 || !slices.Equal(p.ISR, []int32{2, 1}) || p.Adding != nil || p.Removing != nil {
			t.Fatalf("v%d: after cancelling: %+v, want replicas [1 2] (replicas [4 3 1 2] minus adding [4 3]), leader 2, ISR [2 1]", v, p)
		}
		if list := listReassignments(t, b, nil); len(list) != 0 {
			t.Fatalf("v%d: listed %q after cancelling", v, list)
		}
	}

	for _, c := range []struct {
		name     string
		v        int16
		allowRF  bool
		topic    string
		p        int32
		replicas []int32
		want     *kerr.Error
	}{
		{"cancel with none", 0, true, "move", 1, nil, kerr.NoReassignmentInProgress},
		{"duplicates", 0, true, "move", 1, []int32{3, 3}, kerr.InvalidReplicaAssignment},
		{"empty", 1, true, "move", 1, []int32{}, kerr.InvalidReplicaAssignment},
		{"unknown broker", 0, true, "move", 1, []int32{1, 7}, kerr.InvalidReplicaAssignment},
		{"unregistered brokers", 0, true, "move", 1, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}, kerr.InvalidReplicaAssignment},
		{"unknown topic", 0, true, "nope", 0, []int32{1}, kerr.UnknownTopicOrPartition},
		{"unknown partition", 1, true, "move", 9, []int32{1}, kerr.UnknownTopicOrPartition},
		{"replication factor change refused (v1)", 1, false, "move", 1, []int32{1, 2, 3}, kerr.InvalidReplicationFactor},
	} {
		if got := reassignCode(t, b, reassignReq(c.v, c.allowRF, c.topic, c.p, c.replicas)); got != c.want.Code {
			t.Errorf("%s: answered %v, want %v", c.name, kerr.ErrorForCode(got), c.want)
		}
	}
	// v1 without a replication factor change is accepted.
	if code := reassignCode(t, b, reassignReq(1, false, "move", 1, []int32{3, 4})); code != 0 {
		t.Fatalf("same replication factor: %v", kerr.ErrorForCode(code))
	}
	if list := listReassignments(t, b, nil); len(list) != 1 || list[0] != "move/1 replicas [3 4 1 2] adding [3 4] removing [1 2]" {
		t.Fatalf("listed %q", list)
	}
}

// TestReassignmentSeenByOtherAPIs: during a reassignment (here shrinking
// [1 2] to [3], broker 3 never catching up), Metadata lists the full
// replica set of real brokers only (no offline replica: all are live), and
// CreatePartitions gives new partitions the target's replication factor
// (1), not the full replica set's (3).
func TestReassignmentSeenByOtherAPIs(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	keepAlive(t, st, registerBroker(t, st, b, 3, ""))
	mustCreateTopic(t, b, "shrink", -1, -1, map[int32][]int32{0: {1, 2}}, nil)
	if code := reassignCode(t, b, reassignReq(1, true, "shrink", 0, []int32{3})); code != 0 {
		t.Fatalf("start: %v", kerr.ErrorForCode(code))
	}
	if list := listReassignments(t, b, nil); len(list) != 1 || list[0] != "shrink/0 replicas [3 1 2] adding [3] removing [1 2]" {
		t.Fatalf("listed %q", list)
	}
	resp := roundTrip[*kmsg.MetadataResponse](t, b, metadataReq(12, "shrink"))
	tp := findTopic(t, resp, "shrink")
	if len(tp.Partitions) != 1 {
		t.Fatalf("metadata partitions %+v", tp.Partitions)
	}
	mp := tp.Partitions[0]
	if mp.ErrorCode != 0 || !slices.Equal(mp.Replicas, []int32{3, 1, 2}) || len(mp.OfflineReplicas) != 0 || mp.Leader != 1 {
		t.Fatalf("metadata during the reassignment: %+v; want replicas [3 1 2], no offline replica, leader 1", mp)
	}
	cp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(3, false, growTopic("shrink", 2)))
	if len(cp.Topics) != 1 || cp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreatePartitions: %+v", cp.Topics)
	}
	p1, ok := b.Cluster.Image().Partition("shrink", 1)
	if !ok || len(p1.Replicas) != 1 || p1.Adding != nil || p1.Removing != nil {
		t.Fatalf("new partition %+v; want 1 replica (the target's replication factor), no reassignment", p1)
	}
}
