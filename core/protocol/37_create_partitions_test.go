package protocol

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func growTopic(name string, count int32, assignment ...[]int32) kmsg.CreatePartitionsRequestTopic {
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, count
	for _, r := range assignment {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = r
		rt.Assignment = append(rt.Assignment, a)
	}
	return rt
}

func createPartitionsReq(v int16, validateOnly bool, topics ...kmsg.CreatePartitionsRequestTopic) *kmsg.CreatePartitionsRequest {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly, req.Topics = v, 5000, validateOnly, topics
	return req
}

// TestCreatePartitionsEveryVersion: each version grows a topic through the
// backend; the new partitions are in the image when it answers.
func TestCreatePartitionsEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(0); v <= 3; v++ {
		name := fmt.Sprintf("grow-v%d", v)
		mustCreateTopic(t, b, name, 1, 1, nil, nil)
		resp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(v, false, growTopic(name, 3)))
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != name || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].ErrorMessage != nil {
			t.Fatalf("v%d: %+v", v, resp.Topics)
		}
		tp, _ := b.Cluster.Image().Topic(name)
		if len(tp.Partitions) != 3 || tp.Partitions[2].Leader != 1 {
			t.Fatalf("v%d: image has %+v", v, tp.Partitions)
		}
	}
}

// TestCreatePartitionsCases: assignments, validate_only and every refusal.
func TestCreatePartitionsCases(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	stop2 := keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	mustCreateTopic(t, b, "rf2", -1, -1, map[int32][]int32{0: {1, 2}}, nil)
	mustCreateTopic(t, b, "three", 3, 1, nil, nil)
	mustCreateTopic(t, b, "checked", 1, 1, nil, nil)

	resp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(3, false,
		growTopic("rf2", 3, []int32{2, 1}, []int32{1, 2}),
		growTopic("three", 3),
		growTopic("three", 2),
		growTopic("nope", 2),
		growTopic("rf2", 9),
	))
	want := map[string]int16{"rf2": kerr.InvalidRequest.Code, "three": kerr.InvalidRequest.Code, "nope": kerr.UnknownTopicOrPartition.Code}
	if len(resp.Topics) != 3 {
		t.Fatalf("%d answers, want 3 (duplicates once)", len(resp.Topics))
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != want[rt.Topic] || rt.ErrorMessage == nil {
			t.Fatalf("%s answered %d, want %d", rt.Topic, rt.ErrorCode, want[rt.Topic])
		}
	}

	cases := []struct {
		topic kmsg.CreatePartitionsRequestTopic
		want  int16
	}{
		{growTopic("rf2", 3, []int32{2, 1}, []int32{1, 2}), 0},
		{growTopic("three", 3), kerr.InvalidPartitions.Code},
		{growTopic("checked", 0), kerr.InvalidPartitions.Code},
		{growTopic("nope", 2), kerr.UnknownTopicOrPartition.Code},
	}
	for _, c := range cases {
		resp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(1, false, c.topic))
		if got := resp.Topics[0]; got.ErrorCode != c.want || (got.ErrorCode != 0) != (got.ErrorMessage != nil) {
			t.Fatalf("%s to %d: answered %d %v, want %d", c.topic.Topic, c.topic.Count, got.ErrorCode, got.ErrorMessage, c.want)
		}
	}
	tp, _ := b.Cluster.Image().Topic("rf2")
	if len(tp.Partitions) != 3 || !slices.Equal(tp.Partitions[1].Replicas, []int32{2, 1}) || !slices.Equal(tp.Partitions[2].Replicas, []int32{1, 2}) {
		t.Fatalf("assignment stored as %+v", tp.Partitions)
	}

	// Assignments that do not fit the topic.
	bad := []kmsg.CreatePartitionsRequestTopic{
		growTopic("rf2", 5, []int32{1, 2}), // one list for two new partitions
		growTopic("rf2", 4, []int32{1}),    // wrong replication factor
		growTopic("rf2", 4, []int32{1, 7}), // unknown broker
		growTopic("rf2", 4, []int32{2, 2}), // a broker twice
		{Topic: "rf2", Count: 4, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{}}, // empty list
	}
	for _, rt := range bad {
		resp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(2, false, rt))
		if got := resp.Topics[0].ErrorCode; got != kerr.InvalidReplicaAssignment.Code {
			t.Fatalf("assignment %v answered %d, want INVALID_REPLICA_ASSIGNMENT", rt.Assignment, got)
		}
	}

	// validate_only: checked, not done.
	resp = roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(3, true, growTopic("checked", 4), growTopic("three", 1)))
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("validate_only answered %+v", resp.Topics)
	}
	if tp, _ := b.Cluster.Image().Topic("checked"); len(tp.Partitions) != 1 {
		t.Fatalf("validate_only grew the topic to %d", len(tp.Partitions))
	}

	// Broker 2 fenced: a factor-2 topic cannot grow without an assignment.
	stop2()
	waitFor(t, "broker 2 fenced", func() bool { return !b.Cluster.Image().IsLive(2) })
	resp = roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(3, false, growTopic("rf2", 4)))
	if got := resp.Topics[0].ErrorCode; got != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("growing a factor-2 topic with one live broker answered %d", got)
	}
}

// noTopicUpdates hides the memory store's metadata.TopicUpdater: a
// backend that cannot change topics.
type noTopicUpdates struct{ metadata.Backend }

// TestCreatePartitionsUnsupportedBackend: a backend without topic updates
// gets an honest error, not a silent success.
func TestCreatePartitionsUnsupportedBackend(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, noTopicUpdates{st}, 1, "", true))
	mustCreateTopic(t, b, "fixed", 1, 1, nil, nil)
	resp := roundTrip[*kmsg.CreatePartitionsResponse](t, b, createPartitionsReq(3, false, growTopic("fixed", 2)))
	if got := resp.Topics[0]; got.ErrorCode != kerr.UnsupportedVersion.Code || got.ErrorMessage == nil {
		t.Fatalf("answered %+v", got)
	}
}
