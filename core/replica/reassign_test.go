package replica_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/internal/brokertest"
)

// createAssigned creates a one-partition topic whose replicas are exactly
// replicas (in order) and waits until they are open and in the ISR.
func createAssigned(t *testing.T, nodes []*node, topic string, replicas []int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(testCtx(t, 20*time.Second), newClient(t, nodes))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics %s: %v %+v", topic, err, resp)
	}
	brokertest.Poll(t, 20*time.Second, "the replicas open and in the ISR", func() bool {
		for _, n := range nodes {
			p, ok := n.cl.Image().Partition(topic, 0)
			if !ok || len(p.ISR) != len(replicas) {
				return false
			}
			if _, open := n.parts.Partition(topic, 0); open != slices.Contains(replicas, n.id) {
				return false
			}
		}
		return true
	})
}

// nodesByID picks nodes by broker id.
func nodesByID(nodes []*node, ids ...int32) []*node {
	var out []*node
	for _, n := range nodes {
		if slices.Contains(ids, n.id) {
			out = append(out, n)
		}
	}
	return out
}

// listed returns the reassignment kadm lists for topic's partition 0.
func listed(t *testing.T, adm *kadm.Client, topic string) (kadm.ListPartitionReassignmentsResponse, bool) {
	t.Helper()
	res, err := adm.ListPartitionReassignments(testCtx(t, 10*time.Second), kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	r, ok := res[topic][0]
	return r, ok
}

// alter reassigns topic's partition 0 to target (nil: cancel) through adm
// and returns the partition's error.
func alter(t *testing.T, adm *kadm.Client, topic string, target []int32) error {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, target)
	res, err := adm.AlterPartitionAssignments(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}
	r, ok := res[topic][0]
	if !ok {
		t.Fatalf("AlterPartitionAssignments: no answer for %s-0: %+v", topic, res)
	}
	return r.Err
}

// dirGone reports whether broker n no longer hosts topic's partition 0 and
// its directory is deleted.
func dirGone(n *node, topic string) bool {
	if _, ok := n.parts.Partition(topic, 0); ok {
		return false
	}
	_, err := os.Stat(filepath.Join(n.dir, topic+"-0"))
	return errors.Is(err, os.ErrNotExist)
}

// TestReassignMovesData: 3 brokers, an RF 2 topic on brokers {1,2} (1
// leads) with data and an acks=all producer running, reassigned to {2,3}
// through broker 3 (not a replica). While broker 3 does not fetch, the
// reassignment stays listed (replicas [2 3 1], adding [3], removing [1]);
// once it fetches, it catches up, joins the ISR, leadership moves from 1
// (removed) to 2, the replica set becomes [2 3], broker 1 deletes its
// copy, the list is empty, broker 3's log is byte-identical to the
// leader's and nothing acknowledged is lost.
func TestReassignMovesData(t *testing.T) {
	st := newStore(t)
	rcfg := testReplicaConfig(5 * time.Second)
	nodes := startNodes(t, st, 3, rcfg)
	const topic = "reassign-move"
	createAssigned(t, nodes, topic, []int32{1, 2})
	if l := leaderOf(t, nodes, topic, 0); l.id != 1 {
		t.Fatalf("leader %d, want 1", l.id)
	}
	sp := brokertest.ProduceSteadily(t, seeds(nodes), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the reassignment", func() bool { return sp.Count() >= 300 })

	n3 := nodesByID(nodes, 3)[0]
	n3.stopReplication() // keeps the reassignment in progress until restarted
	adm := kadm.NewClient(newClient(t, []*node{n3}))
	if err := alter(t, adm, topic, []int32{2, 3}); err != nil {
		t.Fatalf("reassigning to [2 3]: %v", err)
	}
	r, ok := listed(t, adm, topic)
	if !ok || !slices.Equal(r.Replicas, []int32{2, 3, 1}) || !slices.Equal(r.AddingReplicas, []int32{3}) || !slices.Equal(r.RemovingReplicas, []int32{1}) {
		t.Fatalf("in progress: listed %v %+v; want replicas [2 3 1], adding [3], removing [1]", ok, r)
	}
	// Listed by every broker (the state is in the metadata).
	if r1, ok := listed(t, kadm.NewClient(newClient(t, nodesByID(nodes, 1))), topic); !ok || !slices.Equal(r1.Replicas, r.Replicas) {
		t.Fatalf("broker 1 lists %v %+v", ok, r1)
	}
	brokertest.Poll(t, 10*time.Second, "broker 3's replica open", func() bool {
		_, ok := n3.parts.Partition(topic, 0)
		return ok
	})
	n := sp.Count()
	brokertest.Poll(t, 20*time.Second, "producing while the reassignment is pending", func() bool { return sp.Count() >= n+100 })
	if _, ok := listed(t, adm, topic); !ok {
		t.Fatal("the reassignment completed without broker 3 fetching")
	}

	n3.startReplication(t)
	brokertest.Poll(t, 30*time.Second, "the reassignment complete", func() bool {
		for _, n := range nodes {
			p, _ := n.cl.Image().Partition(topic, 0)
			if !slices.Equal(p.Replicas, []int32{2, 3}) || p.Leader != 2 {
				return false
			}
		}
		return true
	})
	if _, ok := listed(t, adm, topic); ok {
		t.Fatal("the completed reassignment is still listed")
	}
	n1 := nodesByID(nodes, 1)[0]
	brokertest.Poll(t, 10*time.Second, "broker 1's copy deleted", func() bool { return dirGone(n1, topic) })
	n = sp.Count()
	brokertest.Poll(t, 30*time.Second, "producing on the new replicas", func() bool { return sp.Count() >= n+200 })
	finish(t, sp, nodesByID(nodes, 2, 3), topic)
	p, _ := n3.cl.Image().Partition(topic, 0)
	t.Logf("reassigned to %v, leader %d epoch %d, ISR %v; %d records acknowledged, all read back", p.Replicas, p.Leader, p.LeaderEpoch, p.ISR, sp.Count())
}

// TestReassignKeepsLeader: a reassignment from {1,2} to {1,3} (the leader
// stays) completes without a leader change; broker 2 deletes its copy and
// broker 3's matches the leader's.
func TestReassignKeepsLeader(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "reassign-keep"
	createAssigned(t, nodes, topic, []int32{1, 2})
	cl := newClient(t, nodes)
	produce(t, cl, topic, 200, "a")
	before, _ := nodes[0].cl.Image().Partition(topic, 0)
	adm := kadm.NewClient(cl)
	if err := alter(t, adm, topic, []int32{1, 3}); err != nil {
		t.Fatal(err)
	}
	brokertest.Poll(t, 30*time.Second, "the reassignment complete", func() bool {
		p, _ := nodes[0].cl.Image().Partition(topic, 0)
		return slices.Equal(p.Replicas, []int32{1, 3}) && slices.Equal(p.ISR, []int32{1, 3})
	})
	after, _ := nodes[0].cl.Image().Partition(topic, 0)
	if after.Leader != 1 || after.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("leader moved: %+v (before %+v)", after, before)
	}
	brokertest.Poll(t, 10*time.Second, "broker 2's copy deleted", func() bool { return dirGone(nodes[1], topic) })
	produce(t, cl, topic, 100, "b")
	waitReplicasMatch(t, nodesByID(nodes, 1, 3), topic, 0)
	if got := consumeAll(t, nodes, topic, map[int32]int{0: 300}); len(got[0]) != 300 {
		t.Fatalf("read %d records, want 300", len(got[0]))
	}
}

// TestReassignCancel: a reassignment from {1,2} to {2,3} whose new replica
// never catches up (broker 3 does not fetch) is cancelled: the replica set
// is {1,2} again, as Kafka restores it (replicas [2 3 1] minus adding [3]:
// [2 1]), with leader 1, nothing is listed, broker 3 deletes the
// copy it opened, and a second cancellation answers
// NO_REASSIGNMENT_IN_PROGRESS.
func TestReassignCancel(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "reassign-cancel"
	createAssigned(t, nodes, topic, []int32{1, 2})
	cl := newClient(t, nodes)
	produce(t, cl, topic, 100, "a")
	n3 := nodes[2]
	n3.stopReplication()
	adm := kadm.NewClient(cl)
	if err := alter(t, adm, topic, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	brokertest.Poll(t, 10*time.Second, "broker 3's replica open", func() bool {
		_, ok := n3.parts.Partition(topic, 0)
		return ok
	})
	if _, ok := listed(t, adm, topic); !ok {
		t.Fatal("reassignment not listed")
	}
	if err := alter(t, adm, topic, nil); err != nil {
		t.Fatalf("cancelling: %v", err)
	}
	p, _ := nodes[0].cl.Image().Partition(topic, 0)
	if !slices.Equal(p.Replicas, []int32{2, 1}) || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2}) || p.Adding != nil || p.Removing != nil {
		t.Fatalf("after cancelling: %+v; want replicas [2 1], leader 1, ISR [1 2], no adding or removing", p)
	}
	if _, ok := listed(t, adm, topic); ok {
		t.Fatal("cancelled reassignment still listed")
	}
	brokertest.Poll(t, 10*time.Second, "broker 3's copy deleted", func() bool { return dirGone(n3, topic) })
	n3.startReplication(t)
	if err := alter(t, adm, topic, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}
	produce(t, cl, topic, 100, "b")
	if got := consumeAll(t, nodes, topic, map[int32]int{0: 200}); len(got[0]) != 200 {
		t.Fatalf("read %d records, want 200", len(got[0]))
	}
}

// TestReassignInvalid: duplicates, an empty set, unknown and fenced
// brokers answer INVALID_REPLICA_ASSIGNMENT; an unknown topic or partition
// UNKNOWN_TOPIC_OR_PARTITION; v1 with allow_replication_factor_change false
// and a size change INVALID_REPLICATION_FACTOR; none changes the
// partition.
func TestReassignInvalid(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "reassign-invalid"
	createAssigned(t, nodes, topic, []int32{1, 2})
	nodes[2].crash()
	brokertest.Poll(t, 20*time.Second, "broker 3 fenced", func() bool {
		b, ok := nodes[0].cl.Image().Broker(3)
		return ok && b.Fenced
	})
	before, _ := nodes[0].cl.Image().Partition(topic, 0)
	cl := newClient(t, nodes[:2])
	send := func(version int16, allowRF bool, topic string, part int32, replicas []int32) int16 {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.Version, req.AllowReplicationFactorChange, req.TimeoutMillis = version, allowRF, 10000
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = part, replicas
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t, 20*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("response %+v", resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	cases := []struct {
		name     string
		version  int16
		allowRF  bool
		topic    string
		part     int32
		replicas []int32
		want     *kerr.Error
	}{
		{"duplicates", 0, true, topic, 0, []int32{2, 2}, kerr.InvalidReplicaAssignment},
		{"empty", 0, true, topic, 0, []int32{}, kerr.InvalidReplicaAssignment},
		{"unknown broker", 0, true, topic, 0, []int32{1, 9}, kerr.InvalidReplicaAssignment},
		{"fenced broker", 1, true, topic, 0, []int32{1, 3}, kerr.InvalidReplicaAssignment},
		{"negative broker", 0, true, topic, 0, []int32{1, -1}, kerr.InvalidReplicaAssignment},
		{"unknown topic", 0, true, "no-such-topic", 0, []int32{1, 2}, kerr.UnknownTopicOrPartition},
		{"unknown partition", 0, true, topic, 5, []int32{1, 2}, kerr.UnknownTopicOrPartition},
		{"cancel without reassignment", 0, true, topic, 0, nil, kerr.NoReassignmentInProgress},
		{"replication factor change refused", 1, false, topic, 0, []int32{1}, kerr.InvalidReplicationFactor},
	}
	for _, c := range cases {
		if got := send(c.version, c.allowRF, c.topic, c.part, c.replicas); got != c.want.Code {
			t.Errorf("%s: error %v, want %v", c.name, kerr.ErrorForCode(got), c.want)
		}
	}
	after, _ := nodes[0].cl.Image().Partition(topic, 0)
	if after.PartitionEpoch != before.PartitionEpoch || !slices.Equal(after.Replicas, before.Replicas) {
		t.Fatalf("invalid requests changed the partition: %+v, was %+v", after, before)
	}
	// A reorder (same replicas) applies at once, with no reassignment.
	if code := send(1, false, topic, 0, []int32{2, 1}); code != 0 {
		t.Fatalf("reorder: %v", kerr.ErrorForCode(code))
	}
	p, _ := nodes[0].cl.Image().Partition(topic, 0)
	if !slices.Equal(p.Replicas, []int32{2, 1}) {
		t.Fatalf("after the reorder: %+v", p)
	}
	if _, ok := listed(t, kadm.NewClient(cl), topic); ok {
		t.Fatal("a reorder is listed as a reassignment")
	}
}

// TestReassignSurvivesDriverCrash: the reassignment from {1,2} to {2,3} is
// requested through broker 1, the leader, which crashes (kill -9: fenced
// at session expiry) before broker 3 has fetched anything; broker 2 takes
// over and, as the new leader, finishes the reassignment once broker 3
// catches up, from the state in the metadata alone. acks=all producing
// continues and nothing acknowledged is lost.
func TestReassignSurvivesDriverCrash(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "reassign-crash"
	createAssigned(t, nodes, topic, []int32{1, 2})
	sp := brokertest.ProduceSteadily(t, seeds(nodes), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the reassignment", func() bool { return sp.Count() >= 200 })
	n1, n3 := nodes[0], nodes[2]
	n3.stopReplication()
	if err := alter(t, kadm.NewClient(newClient(t, []*node{n1})), topic, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	n1.crash()
	brokertest.Poll(t, 20*time.Second, "broker 2 leading after broker 1's crash", func() bool {
		p, _ := nodes[1].cl.Image().Partition(topic, 0)
		return p.Leader == 2
	})
	adm := kadm.NewClient(newClient(t, nodesByID(nodes, 2)))
	if r, ok := listed(t, adm, topic); !ok || !slices.Equal(r.AddingReplicas, []int32{3}) {
		t.Fatalf("after the crash: listed %v %+v, want the reassignment adding [3]", ok, r)
	}
	n3.startReplication(t)
	brokertest.Poll(t, 30*time.Second, "the reassignment complete", func() bool {
		p, _ := nodes[1].cl.Image().Partition(topic, 0)
		return slices.Equal(p.Replicas, []int32{2, 3}) && slices.Equal(p.ISR, []int32{2, 3})
	})
	if _, ok := listed(t, adm, topic); ok {
		t.Fatal("the completed reassignment is still listed")
	}
	n := sp.Count()
	brokertest.Poll(t, 30*time.Second, "producing on the new replicas", func() bool { return sp.Count() >= n+200 })
	finish(t, sp, nodesByID(nodes, 2, 3), topic)
}
