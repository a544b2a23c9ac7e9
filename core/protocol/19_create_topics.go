package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// CreateTopics (key 19): versions 0-7.
//
// Behaviour:
//   - Any broker answers (there is no controller role): each topic is
//     validated against this broker's metadata image (once more against an
//     image with every committed change when that one refuses for what it
//     holds, and always so for validate_only: see
//     cluster.CreateTopic/ValidateCreateTopic) and created through the
//     backend, which orders concurrent requests on every broker; the
//     answer comes once this broker's image has the topic, so the client's
//     next Metadata here sees it.
//   - num_partitions / replication_factor -1 take the broker defaults
//     (Config.DefaultPartitions, Config.DefaultReplicationFactor). A
//     replica assignment needs both at -1 (INVALID_REQUEST otherwise) and
//     consecutive partitions from 0, each listing distinct registered
//     brokers, all lists equally long (INVALID_REPLICA_ASSIGNMENT).
//     Without one, replicas are placed round-robin (rack-aware) over the
//     live brokers; a factor above their number is
//     INVALID_REPLICATION_FACTOR, a count below 1 INVALID_PARTITIONS.
//   - Configs are validated with topicconfig: an unknown name or a bad
//     value is INVALID_CONFIG; a null value leaves the config unset (as
//     Kafka); a name given twice keeps the last value.
//   - validate_only (v1+) checks everything, creates nothing, and answers
//     what would be created (partitions, replication factor, configs).
//   - A name given twice in one request answers INVALID_REQUEST ("Duplicate
//     topic name.") once, as Kafka; an existing topic
//     TOPIC_ALREADY_EXISTS; a bad name INVALID_TOPIC_EXCEPTION.
//   - timeout_ms bounds the whole request (defaultAdminTimeout when not
//     positive); a topic not done by then answers REQUEST_TIMED_OUT (it may
//     still be created, as in Kafka).
//   - Error messages (v1+) say what was refused and why.
//   - v5+: num_partitions, replication_factor and every topic config
//     (value and source, as DescribeConfigs) of the created topic; v7+ its
//     topic id (zero for validate_only).
//
// Version notes: v1 validate_only, error messages; v2 throttle; v3 same as
// v2; v4 -1 defaults (KIP-464, accepted at every version); v5 flexible,
// configs and counts in the response; v6 quota errors (none here); v7
// topic id.

func init() {
	Register(API{Key: 19, MinVersion: 0, MaxVersion: 7, Handle: handleCreateTopics})
}

func handleCreateTopics(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.CreateTopicsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: CreateTopics handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		if count[rt.Topic] > 1 {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = messagef("Duplicate topic name.")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st := createTopic(ctx, b, rt, req.ValidateOnly)
		if st.ErrorCode != 0 {
			r.Logger.Debug("CreateTopics refused a topic", "topic", rt.Topic, "error_code", st.ErrorCode, "message", *st.ErrorMessage)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createTopic creates (or, validateOnly, checks) one topic of a request.
func createTopic(ctx context.Context, b *Broker, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	fail := func(err error) kmsg.CreateTopicsResponseTopic {
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		return st
	}
	if b.Cluster == nil {
		return fail(fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage))
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if _, known := topicconfig.Lookup(c.Name); !known {
			return fail(fmt.Errorf("%w %q", topicconfig.ErrUnknown, c.Name))
		}
		if c.Value == nil {
			delete(configs, c.Name)
			continue
		}
		configs[c.Name] = *c.Value
	}
	if err := topicconfig.Validate(configs); err != nil {
		return fail(err)
	}

	partitions, rf := rt.NumPartitions, rt.ReplicationFactor
	var assignment map[int32][]int32
	if len(rt.ReplicaAssignment) > 0 {
		assignment = make(map[int32][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if _, dup := assignment[a.Partition]; dup {
				return fail(fmt.Errorf("protocol: topic %q: the replica assignment lists partition %d twice: %w", rt.Topic, a.Partition, cluster.ErrInvalidReplicaAssignment))
			}
			assignment[a.Partition] = a.Replicas
		}
	} else {
		if partitions == -1 {
			partitions = b.Config.DefaultPartitions
		}
		if rf == -1 {
			rf = b.Config.DefaultReplicationFactor
		}
	}

	var parts []metadata.PartitionSpec
	if validateOnly {
		spec, err := b.Cluster.ValidateCreateTopic(ctx, rt.Topic, partitions, rf, assignment, configs)
		if err != nil {
			return fail(err)
		}
		parts = spec.Partitions
	} else {
		t, err := b.Cluster.CreateTopic(ctx, rt.Topic, partitions, rf, assignment, configs)
		if err != nil {
			return fail(err)
		}
		st.TopicID = t.ID
		parts = make([]metadata.PartitionSpec, len(t.Partitions))
		for i, p := range t.Partitions {
			parts[i].Replicas = p.Replicas
		}
	}
	st.NumPartitions = int32(len(parts))
	if len(parts) > 0 {
		st.ReplicationFactor = int16(len(parts[0].Replicas))
	}
	for _, e := range topicConfigEntries(configs, b.Config.TopicDefaults) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source, c.ReadOnly = e.name, kmsg.StringPtr(e.value), int8(e.source), e.readOnly
		st.Configs = append(st.Configs, c)
	}
	return st
}
