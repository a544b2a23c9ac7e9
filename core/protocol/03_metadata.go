package protocol

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Metadata (key 3): versions 0-13.
//
// Behaviour — every answer comes from one metadata image of this broker
// (the watch-fed view of the backend), never from a node-local record:
//   - Brokers: exactly the image's live (unfenced) brokers, each with its
//     registered listener (the first one it registered) and rack. The
//     controller id is the image's (the lowest live broker id; -1 when none
//     is live).
//   - Partitions: leader, leader epoch, replicas and ISR as the image has
//     them. A partition whose leader is not live (none, fenced or no
//     longer registered) answers LEADER_NOT_AVAILABLE with leader -1 and
//     its real leader epoch — never a made-up leader, never this broker.
//     v5+: offline replicas are the replicas that are not live. v0, as
//     Kafka: replicas and ISR list only live brokers, and a partition with
//     a live leader but a replica down answers REPLICA_NOT_AVAILABLE.
//   - Topics: null (v1+) or an empty list (v0) asks for every topic
//     (sorted by name); an empty list (v1+) for none; named topics are
//     answered in request order, once each. An unknown name is created
//     when the request allows it (always for v0-v3, AllowAutoTopicCreation
//     for v4+) and Config.AutoCreateTopics is on: through the backend, with
//     Config.DefaultPartitions and Config.DefaultReplicationFactor (too few
//     live brokers answer INVALID_REPLICATION_FACTOR, as Kafka; a bad name
//     INVALID_TOPIC_EXCEPTION); the creation waits until this broker's
//     image has the topic, which is then answered like any other (so
//     LEADER_NOT_AVAILABLE only where no live leader shows yet). A creation
//     that does not finish within autoCreateWait answers
//     LEADER_NOT_AVAILABLE (retriable; it may still land). Internal topics
//     (__consumer_offsets, __transaction_state) are never auto-created
//     here. Otherwise unknown names answer UNKNOWN_TOPIC_OR_PARTITION.
//   - v12+: topics by id (an id wins over a name); an unknown id answers
//     UNKNOWN_TOPIC_ID with a null name; ids never auto-create. An id in a
//     v10-v11 request, or a null name before v12, answers INVALID_REQUEST
//     for that entry.
//   - is_internal (v1+) flags __consumer_offsets and __transaction_state.
//   - Authorized operations (v8+, when asked): every operation Kafka
//     supports on the resource, which is what Kafka answers without an
//     authorizer; the -2147483648 default otherwise.
//   - Cluster id (v2+): the image's (the backend's cluster id, created
//     once when the metadata cluster formed: Kafka's 22-character form,
//     the same on every broker). Null only if the backend gave none (a
//     backend that breaks the contract); never a made-up one.
//   - Before this broker has any metadata image it waits up to
//     firstImageWait for the first one. If none comes, a request naming
//     topics gets LEADER_NOT_AVAILABLE for each (retriable), no brokers and
//     controller -1: Java and kafka-python ignore a broker-less response
//     and retry, kgo falls back to its seed brokers and retries the topics.
//     A request for every topic or for none has no honest answer (an empty
//     list would read as "no topics"/"no brokers"), so the handler returns
//     an error and the server closes the connection: every client retries
//     a failed metadata request.
//
// Version notes: v1 controller id, rack, is_internal, null topics = all;
// v2 cluster id; v3 throttle; v4 allow_auto_topic_creation; v5 offline
// replicas; v7 leader epoch; v8 authorized operations; v9 flexible; v10
// topic ids in responses; v11 drops cluster authorized operations; v12
// topic ids in requests; v13 top-level error code (always 0 here).

func init() {
	Register(API{Key: 3, MinVersion: 0, MaxVersion: 13, Handle: handleMetadata})
}

// Authorized operations answered when a client asks for them: there is no
// authorizer, so every operation Kafka supports on the resource is allowed
// (bit i set for AclOperation i), exactly what Kafka answers without one.
const (
	// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
	topicAuthorizedOperations int32 = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
	clusterAuthorizedOperations int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
)

func handleMetadata(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.MetadataRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: Metadata handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0

	img, err := metadataImage(ctx, b)
	if err != nil {
		if all || len(req.Topics) == 0 {
			return nil, fmt.Errorf("protocol: Metadata for all topics or none cannot be answered: %w", err)
		}
		r.Logger.Debug("Metadata before the first metadata image; answering LEADER_NOT_AVAILABLE", "error", err)
		for _, rt := range req.Topics {
			t := kmsg.NewMetadataResponseTopic()
			t.Topic, t.TopicID = rt.Topic, rt.TopicID
			t.ErrorCode = kerr.LeaderNotAvailable.Code
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil
	}

	var failed map[string]error // auto-creations that failed, by name
	if !all {
		failed = autoCreateForMetadata(ctx, b, r, req, img)
		if failed != nil {
			img = b.Cluster.Image() // has every topic created above
		}
	}

	resp.ControllerID = img.ControllerID()
	if id := img.ClusterID(); id != "" {
		resp.ClusterID = kmsg.StringPtr(id)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterAuthorizedOperations
	}
	for _, br := range img.LiveBrokers() {
		if len(br.Listeners) == 0 {
			continue // unreachable; cluster.Config.Validate requires one
		}
		l := br.Listeners[0]
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, l.Host, l.Port
		if br.Rack != "" {
			mb.Rack = kmsg.StringPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, mb)
	}

	if all {
		names := img.TopicNames()
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(names))
		for _, name := range names {
			t, _ := img.Topic(name)
			resp.Topics = append(resp.Topics, describeTopic(req, img, t))
		}
		return resp, nil
	}

	seen := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		entry := kmsg.NewMetadataResponseTopic()
		entry.Topic, entry.TopicID = rt.Topic, rt.TopicID
		switch {
		case rt.TopicID != [16]byte{} && req.Version < 12:
			entry.ErrorCode = kerr.InvalidRequest.Code // topic ids need v12
		case rt.TopicID != [16]byte{}:
			t, ok := img.TopicByID(rt.TopicID)
			if !ok {
				entry.Topic = nil
				entry.ErrorCode = kerr.UnknownTopicID.Code
				break
			}
			if seen[t.Name] {
				continue
			}
			seen[t.Name] = true
			entry = describeTopic(req, img, t)
		case rt.Topic == nil:
			if req.Version >= 12 {
				continue // neither a name nor an id: nothing asked
			}
			entry.ErrorCode = kerr.InvalidRequest.Code // null names need v12
		default:
			name := *rt.Topic
			if seen[name] {
				continue
			}
			seen[name] = true
			if t, ok := img.Topic(name); ok {
				entry = describeTopic(req, img, t)
				break
			}
			err, tried := failed[name]
			switch {
			case !tried:
				entry.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case err == nil, errors.Is(err, metadata.ErrTopicExists), errors.Is(err, metadata.ErrUnavailable),
				errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
				// Created (or being created) but not in this image yet.
				entry.ErrorCode = kerr.LeaderNotAvailable.Code
			default:
				entry.ErrorCode = errorCode(err)
			}
		}
		if req.IncludeTopicAuthorizedOperations && entry.Topic != nil {
			entry.AuthorizedOperations = topicAuthorizedOperations
		}
		resp.Topics = append(resp.Topics, entry)
	}
	return resp, nil
}

// autoCreateForMetadata creates the topics a Metadata request names that
// img lacks, when the request and the broker allow auto-creation. It
// returns, for each name it tried, the creation's error (nil: created);
// nil when it tried none. All creations share one autoCreateWait.
func autoCreateForMetadata(ctx context.Context, b *Broker, r *Request, req *kmsg.MetadataRequest, img *cluster.Image) map[string]error {
	if !b.Config.AutoCreateTopics || req.Version >= 4 && !req.AllowAutoTopicCreation {
		return nil
	}
	var tried map[string]error
	var cancel context.CancelFunc
	for _, rt := range req.Topics {
		if rt.TopicID != [16]byte{} || rt.Topic == nil {
			continue
		}
		name := *rt.Topic
		if _, ok := img.Topic(name); ok {
			continue
		}
		if _, ok := tried[name]; ok {
			continue
		}
		if tried == nil {
			tried = make(map[string]error)
			ctx, cancel = context.WithTimeout(ctx, autoCreateWait)
			defer cancel()
		}
		if isInternalTopic(name) {
			// Not created here; answered as unknown.
			tried[name] = metadata.ErrUnknownTopic
			continue
		}
		_, err := autoCreateTopic(ctx, b, name)
		if err != nil {
			r.Logger.Debug("topic auto-creation failed", "topic", name, "error", err)
		}
		tried[name] = err
	}
	return tried
}

// describeTopic answers one topic of img.
func describeTopic(req *kmsg.MetadataRequest, img *cluster.Image, t metadata.Topic) kmsg.MetadataResponseTopic {
	rt := kmsg.NewMetadataResponseTopic()
	rt.Topic = kmsg.StringPtr(t.Name)
	rt.TopicID = t.ID
	rt.IsInternal = isInternalTopic(t.Name)
	if req.IncludeTopicAuthorizedOperations {
		rt.AuthorizedOperations = topicAuthorizedOperations
	}
	rt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Partitions))
	for i, p := range t.Partitions {
		sp := &rt.Partitions[i]
		sp.Default()
		sp.Partition = int32(i)
		sp.LeaderEpoch = p.LeaderEpoch
		sp.Replicas, sp.ISR = p.Replicas, p.ISR // shared with the image; only read
		for _, id := range p.Replicas {
			if !img.IsLive(id) {
				sp.OfflineReplicas = append(sp.OfflineReplicas, id)
			}
		}
		leader, live := img.LiveLeader(p)
		if live {
			sp.Leader = leader.ID
		} else {
			sp.Leader = metadata.NoLeader
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		if req.Version == 0 {
			// v0 lists only live replicas and says when some are down.
			sp.Replicas, sp.ISR = liveOnly(img, p.Replicas), liveOnly(img, p.ISR)
			if live && (len(sp.Replicas) < len(p.Replicas) || len(sp.ISR) < len(p.ISR)) {
				sp.ErrorCode = kerr.ReplicaNotAvailable.Code
			}
		}
	}
	return rt
}

// liveOnly returns the ids of ids that are live in img (ids itself when all
// are).
func liveOnly(img *cluster.Image, ids []int32) []int32 {
	for i, id := range ids {
		if img.IsLive(id) {
			continue
		}
		out := append(make([]int32, 0, len(ids)-1), ids[:i]...)
		for _, id := range ids[i+1:] {
			if img.IsLive(id) {
				out = append(out, id)
			}
		}
		return out
	}
	return ids
}
