package protocol

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/topicconfig"
)

func createTopicsReq(v int16, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = v
	req.TimeoutMillis = 5000
	req.Topics = topics
	return req
}

func creatable(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], strp(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

// TestCreateTopicsEveryVersion: each version creates a topic through the
// backend, visible in the image at once, with its configs stored, and
// answers what it created.
func TestCreateTopicsEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(0); v <= 7; v++ {
		name := fmt.Sprintf("created-v%d", v)
		resp := roundTrip[*kmsg.CreateTopicsResponse](t, b, createTopicsReq(v, creatable(name, 3, 1, "retention.ms", "1000")))
		if len(resp.Topics) != 1 {
			t.Fatalf("v%d: %d topics answered", v, len(resp.Topics))
		}
		st := resp.Topics[0]
		if st.Topic != name || st.ErrorCode != 0 || st.ErrorMessage != nil {
			t.Fatalf("v%d: %+v", v, st)
		}
		tp, ok := b.Cluster.Image().Topic(name)
		if !ok || len(tp.Partitions) != 3 || tp.Configs["retention.ms"] != "1000" {
			t.Fatalf("v%d: image has %+v, %v", v, tp, ok)
		}
		if v >= 5 {
			if st.NumPartitions != 3 || st.ReplicationFactor != 1 || len(st.Configs) != len(topicconfig.Defs) {
				t.Fatalf("v%d: counts %d/%d, %d configs", v, st.NumPartitions, st.ReplicationFactor, len(st.Configs))
			}
			for _, c := range st.Configs {
				wantSource := int8(kmsg.ConfigSourceDefaultConfig)
				if c.Name == "retention.ms" {
					wantSource = int8(kmsg.ConfigSourceDynamicTopicConfig)
					if *c.Value != "1000" {
						t.Fatalf("v%d: retention.ms = %s", v, *c.Value)
					}
				}
				if c.Source != wantSource || c.ReadOnly || c.Value == nil {
					t.Fatalf("v%d: config %s source %d (want %d) readonly %v", v, c.Name, c.Source, wantSource, c.ReadOnly)
				}
			}
		} else if st.NumPartitions != -1 {
			t.Fatalf("v%d: NumPartitions %d decoded from a version without it", v, st.NumPartitions)
		}
		if v >= 7 && st.TopicID != tp.ID {
			t.Fatalf("v%d: topic id %x, want %x", v, st.TopicID, tp.ID)
		}
	}
}

// TestCreateTopicsDefaultsAndAssignment: -1 takes the broker defaults; a
// manual assignment is used as given.
func TestCreateTopicsDefaultsAndAssignment(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, ""))
	b.Config.DefaultPartitions, b.Config.DefaultReplicationFactor = 4, 2

	manual := creatable("manual", -1, -1)
	for p, replicas := range [][]int32{{2, 1}, {1, 2}} {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), replicas
		manual.ReplicaAssignment = append(manual.ReplicaAssignment, a)
	}
	resp := roundTrip[*kmsg.CreateTopicsResponse](t, b, createTopicsReq(7, creatable("defaults", -1, -1), manual))
	for _, st := range resp.Topics {
		if st.ErrorCode != 0 {
			t.Fatalf("%s: error %d %v", st.Topic, st.ErrorCode, *st.ErrorMessage)
		}
	}
	if resp.Topics[0].NumPartitions != 4 || resp.Topics[0].ReplicationFactor != 2 {
		t.Fatalf("defaults: %d partitions rf %d, want 4 and 2", resp.Topics[0].NumPartitions, resp.Topics[0].ReplicationFactor)
	}
	tp, _ := b.Cluster.Image().Topic("manual")
	if len(tp.Partitions) != 2 || !slices.Equal(tp.Partitions[0].Replicas, []int32{2, 1}) || tp.Partitions[0].Leader != 2 ||
		!slices.Equal(tp.Partitions[1].Replicas, []int32{1, 2}) || tp.Partitions[1].Leader != 1 {
		t.Fatalf("manual assignment stored as %+v", tp.Partitions)
	}
	if resp.Topics[1].NumPartitions != 2 || resp.Topics[1].ReplicationFactor != 2 {
		t.Fatalf("manual: answered %d partitions rf %d", resp.Topics[1].NumPartitions, resp.Topics[1].ReplicationFactor)
	}
}

// TestCreateTopicsValidateOnly: everything is checked, nothing created,
// and the answer says what would be.
func TestCreateTopicsValidateOnly(t *testing.T) {
	_, b := oneBroker(t)
	for v := int16(1); v <= 7; v++ {
		req := createTopicsReq(v, creatable("would-be", 5, 1, "cleanup.policy", "delete"), creatable("bad-config", 1, 1, "retention.ms", "soon"))
		req.ValidateOnly = true
		resp := roundTrip[*kmsg.CreateTopicsResponse](t, b, req)
		ok, bad := resp.Topics[0], resp.Topics[1]
		if ok.ErrorCode != 0 || bad.ErrorCode != kerr.InvalidConfig.Code || bad.ErrorMessage == nil {
			t.Fatalf("v%d: answered %d, %d", v, ok.ErrorCode, bad.ErrorCode)
		}
		if v >= 5 && (ok.NumPartitions != 5 || ok.ReplicationFactor != 1) {
			t.Fatalf("v%d: would create %d partitions rf %d", v, ok.NumPartitions, ok.ReplicationFactor)
		}
		if ok.TopicID != [16]byte{} {
			t.Fatalf("v%d: validate_only answered a topic id", v)
		}
	}
	if names := b.Cluster.Image().TopicNames(); len(names) != 0 {
		t.Fatalf("validate_only created %v", names)
	}
}

// TestCreateTopicsErrors: every refusal has Kafka's code and a message
// (v1+), per topic, and the other topics of the request still happen.
func TestCreateTopicsErrors(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "exists", 1, 1, nil, nil)
	mustCreateTopic(t, b, "a.b", 1, 1, nil, nil)

	withAssignment := func(name string, partitions int32, rf int16, parts map[int32][]int32) kmsg.CreateTopicsRequestTopic {
		rt := creatable(name, partitions, rf)
		for p, r := range parts {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	dupPartition := withAssignment("dup-partition", -1, -1, map[int32][]int32{0: {1}})
	dupPartition.ReplicaAssignment = append(dupPartition.ReplicaAssignment, dupPartition.ReplicaAssignment[0])
	nullValue := creatable("null-value", 1, 1)
	nc := kmsg.NewCreateTopicsRequestTopicConfig()
	nc.Name = "retention.ms"
	nullValue.Configs = append(nullValue.Configs, nc)

	cases := []struct {
		topic kmsg.CreateTopicsRequestTopic
		want  int16
	}{
		{creatable("exists", 1, 1), kerr.TopicAlreadyExists.Code},
		{creatable("a_b", 1, 1), kerr.InvalidTopicException.Code},
		{creatable("bad name", 1, 1), kerr.InvalidTopicException.Code},
		{creatable("unknown-config", 1, 1, "log.flush.interval.messages", "1"), kerr.InvalidConfig.Code},
		{creatable("bad-value", 1, 1, "max.message.bytes", "-5"), kerr.InvalidConfig.Code},
		{creatable("bad-policy", 1, 1, "cleanup.policy", "shred"), kerr.InvalidConfig.Code},
		{creatable("rf-too-big", 1, 2), kerr.InvalidReplicationFactor.Code},
		{creatable("rf-zero", 1, 0), kerr.InvalidReplicationFactor.Code},
		{creatable("no-partitions", 0, 1), kerr.InvalidPartitions.Code},
		{withAssignment("assignment-and-counts", 1, -1, map[int32][]int32{0: {1}}), kerr.InvalidRequest.Code},
		{withAssignment("gap", -1, -1, map[int32][]int32{0: {1}, 2: {1}}), kerr.InvalidReplicaAssignment.Code},
		{withAssignment("unknown-broker", -1, -1, map[int32][]int32{0: {7}}), kerr.InvalidReplicaAssignment.Code},
		{withAssignment("same-broker-twice", -1, -1, map[int32][]int32{0: {1, 1}}), kerr.InvalidReplicaAssignment.Code},
		{dupPartition, kerr.InvalidReplicaAssignment.Code},
		{creatable("twice", 1, 1), kerr.InvalidRequest.Code},
		{creatable("fine", 2, 1), 0},
		{creatable("twice", 1, 1), -1}, // answered once, above
		{nullValue, 0},
	}
	for v := int16(0); v <= 7; v += 7 {
		var topics []kmsg.CreateTopicsRequestTopic
		for _, c := range cases {
			topics = append(topics, c.topic)
		}
		if v == 7 { // names must be new again
			for i := range topics {
				if cases[i].want == 0 {
					topics[i].Topic += "-again"
				}
			}
		}
		resp := roundTrip[*kmsg.CreateTopicsResponse](t, b, createTopicsReq(v, topics...))
		var answers []kmsg.CreateTopicsResponseTopic
		answers = append(answers, resp.Topics...)
		i := 0
		for _, c := range cases {
			if c.want == -1 {
				continue
			}
			got := answers[i]
			i++
			if got.ErrorCode != c.want {
				msg := "<nil>"
				if got.ErrorMessage != nil {
					msg = *got.ErrorMessage
				}
				t.Fatalf("v%d: %s answered %d (%s), want %d", v, got.Topic, got.ErrorCode, msg, c.want)
			}
			if v >= 1 && (got.ErrorCode != 0) != (got.ErrorMessage != nil) {
				t.Fatalf("v%d: %s: error %d with message %v", v, got.Topic, got.ErrorCode, got.ErrorMessage)
			}
		}
		if i != len(answers) {
			t.Fatalf("v%d: %d answers, want %d", v, len(answers), i)
		}
	}
	tp, ok := b.Cluster.Image().Topic("null-value")
	if !ok || len(tp.Configs) != 0 {
		t.Fatalf("a null config value was stored: %+v", tp.Configs)
	}
}

// TestCreateTopicsWithoutCluster: a broker that has no cluster view
// answers a retriable error, never a success.
func TestCreateTopicsWithoutCluster(t *testing.T) {
	b := harnessBroker(t, 1, nil)
	resp := roundTrip[*kmsg.CreateTopicsResponse](t, b, createTopicsReq(7, creatable("x", 1, 1)))
	if resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("answered %d", resp.Topics[0].ErrorCode)
	}
}
