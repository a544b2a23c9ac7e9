package protocol

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// metadataReq builds a Metadata request at version v for the named topics
// (none: all topics — an empty list for v0, null for v1+).
func metadataReq(v int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = v
	if v == 0 {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = strp(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func findTopic(t *testing.T, resp *kmsg.MetadataResponse, name string) kmsg.MetadataResponseTopic {
	t.Helper()
	for _, rt := range resp.Topics {
		if rt.Topic != nil && *rt.Topic == name {
			return rt
		}
	}
	t.Fatalf("v%d: topic %q not in the response (%d topics)", resp.Version, name, len(resp.Topics))
	return kmsg.MetadataResponseTopic{}
}

func brokerIDs(resp *kmsg.MetadataResponse) []int32 {
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	return ids
}

// TestMetadataEveryVersion: every version lists exactly the live brokers
// of the image with their listeners and racks, the controller, and each
// partition's leader, real leader epoch, replicas and ISR.
func TestMetadataEveryVersion(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "rack-a", true))
	keepAlive(t, st, registerBroker(t, st, b, 2, "rack-b"))
	tp := mustCreateTopic(t, b, "events", -1, -1, map[int32][]int32{0: {1, 2}, 1: {2, 1}}, nil)
	// Move partition 1's leadership twice: its leader epoch becomes 2.
	alterPartition(t, st, b, "events", 1, 1, []int32{2, 1})
	alterPartition(t, st, b, "events", 1, 2, []int32{2, 1})

	snap, err := st.Snapshot(harnessCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 13; v++ {
		for _, all := range []bool{false, true} {
			req := metadataReq(v, "events")
			if all {
				req = metadataReq(v)
			}
			resp := roundTrip[*kmsg.MetadataResponse](t, b, req)
			if got := brokerIDs(resp); !slices.Equal(got, []int32{1, 2}) {
				t.Fatalf("v%d: brokers %v, want [1 2]", v, got)
			}
			for i, br := range resp.Brokers {
				if br.Host != "127.0.0.1" || br.Port != 9001+int32(i) {
					t.Fatalf("v%d: broker %d at %s:%d", v, br.NodeID, br.Host, br.Port)
				}
				wantRack := []string{"rack-a", "rack-b"}[i]
				if v >= 1 && (br.Rack == nil || *br.Rack != wantRack) {
					t.Fatalf("v%d: broker %d rack %v, want %s", v, br.NodeID, br.Rack, wantRack)
				}
			}
			if v >= 1 && resp.ControllerID != 1 {
				t.Fatalf("v%d: controller %d, want 1", v, resp.ControllerID)
			}
			if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID != snap.ClusterID) {
				t.Fatalf("v%d: cluster id %v, want the backend's %q", v, resp.ClusterID, snap.ClusterID)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("v%d all=%v: %d topics, want 1", v, all, len(resp.Topics))
			}
			rt := findTopic(t, resp, "events")
			if rt.ErrorCode != 0 || len(rt.Partitions) != 2 || rt.IsInternal {
				t.Fatalf("v%d: topic error %d, %d partitions, internal %v", v, rt.ErrorCode, len(rt.Partitions), rt.IsInternal)
			}
			if v >= 10 && rt.TopicID != tp.ID {
				t.Fatalf("v%d: topic id %x, want %x", v, rt.TopicID, tp.ID)
			}
			want := []struct {
				leader, epoch int32
				replicas      []int32
			}{{1, 0, []int32{1, 2}}, {2, 2, []int32{2, 1}}}
			for i, p := range rt.Partitions {
				w := want[i]
				if p.Partition != int32(i) || p.ErrorCode != 0 || p.Leader != w.leader ||
					!slices.Equal(p.Replicas, w.replicas) || !slices.Equal(p.ISR, w.replicas) || len(p.OfflineReplicas) != 0 {
					t.Fatalf("v%d: partition %d = %+v, want leader %d replicas/ISR %v", v, i, p, w.leader, w.replicas)
				}
				if v >= 7 && p.LeaderEpoch != w.epoch {
					t.Fatalf("v%d: partition %d leader epoch %d, want %d", v, i, p.LeaderEpoch, w.epoch)
				}
			}
		}
	}
}

// TestMetadataNoLiveLeader: a partition whose leader is fenced, or that
// has no leader, answers LEADER_NOT_AVAILABLE with leader -1 and its real
// epoch; fenced brokers leave the broker list and show as offline
// replicas; v0 lists live replicas only.
func TestMetadataNoLiveLeader(t *testing.T) {
	st := harnessStore(t)
	b := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	reg2 := registerBroker(t, st, b, 2, "")
	stop2 := keepAlive(t, st, reg2)
	mustCreateTopic(t, b, "t", -1, -1, map[int32][]int32{0: {2, 1}, 1: {1, 2}, 2: {1, 2}}, nil)
	alterPartition(t, st, b, "t", 0, 1, []int32{2, 1})
	alterPartition(t, st, b, "t", 0, 2, []int32{2, 1}) // leader 2 at epoch 2
	alterPartition(t, st, b, "t", 2, -1, []int32{1})   // no leader, epoch 1

	stop2()
	waitFor(t, "broker 2 fenced", func() bool {
		br, ok := b.Cluster.Image().Broker(2)
		return ok && br.Fenced
	})

	for v := int16(0); v <= 13; v++ {
		resp := roundTrip[*kmsg.MetadataResponse](t, b, metadataReq(v, "t"))
		if got := brokerIDs(resp); !slices.Equal(got, []int32{1}) {
			t.Fatalf("v%d: brokers %v, want only the live [1]", v, got)
		}
		rt := findTopic(t, resp, "t")
		p0, p1, p2 := rt.Partitions[0], rt.Partitions[1], rt.Partitions[2]
		if p0.Leader != -1 || p0.ErrorCode != kerr.LeaderNotAvailable.Code {
			t.Fatalf("v%d: fenced leader answered %+v", v, p0)
		}
		if p2.Leader != -1 || p2.ErrorCode != kerr.LeaderNotAvailable.Code {
			t.Fatalf("v%d: leaderless partition answered %+v", v, p2)
		}
		if v >= 7 && (p0.LeaderEpoch != 2 || p2.LeaderEpoch != 1) {
			t.Fatalf("v%d: leader epochs %d, %d; want the image's 2, 1", v, p0.LeaderEpoch, p2.LeaderEpoch)
		}
		if p1.Leader != 1 {
			t.Fatalf("v%d: live leader answered %+v", v, p1)
		}
		if v == 0 {
			if !slices.Equal(p0.Replicas, []int32{1}) || !slices.Equal(p0.ISR, []int32{1}) ||
				!slices.Equal(p1.Replicas, []int32{1}) || p1.ErrorCode != kerr.ReplicaNotAvailable.Code {
				t.Fatalf("v0: partitions %+v %+v; want live replicas only and REPLICA_NOT_AVAILABLE", p0, p1)
			}
			continue
		}
		if !slices.Equal(p0.Replicas, []int32{2, 1}) || p1.ErrorCode != 0 || !slices.Equal(p1.Replicas, []int32{1, 2}) {
			t.Fatalf("v%d: partitions %+v %+v", v, p0, p1)
		}
		if v >= 5 && (!slices.Equal(p0.OfflineReplicas, []int32{2}) || !slices.Equal(p1.OfflineReplicas, []int32{2}) || len(p2.OfflineReplicas) != 1) {
			t.Fatalf("v%d: offline replicas %v %v %v, want [2] each", v, p0.OfflineReplicas, p1.OfflineReplicas, p2.OfflineReplicas)
		}
	}
}

// TestMetadataAutoCreate: unknown topics are created through the backend
// when the request and the broker allow it, with the broker defaults, and
// answered at once from the image; otherwise they are unknown.
func TestMetadataAutoCreate(t *testing.T) {
	_, b := oneBroker(t)
	b.Config.DefaultPartitions = 3

	for v := int16(0); v <= 13; v++ {
		name := "auto-" + string(rune('a'+v))
		req := metadataReq(v, name)
		req.AllowAutoTopicCreation = true
		resp := roundTrip[*kmsg.MetadataResponse](t, b, req)
		rt := findTopic(t, resp, name)
		if rt.ErrorCode != 0 || len(rt.Partitions) != 3 {
			t.Fatalf("v%d: auto-created topic answered error %d with %d partitions", v, rt.ErrorCode, len(rt.Partitions))
		}
		for _, p := range rt.Partitions {
			if p.Leader != 1 || p.ErrorCode != 0 {
				t.Fatalf("v%d: partition %+v", v, p)
			}
		}
		if _, ok := b.Cluster.Image().Topic(name); !ok {
			t.Fatalf("v%d: topic not in the image", v)
		}
	}

	// v4+ without AllowAutoTopicCreation: unknown, nothing created.
	resp := roundTrip[*kmsg.MetadataResponse](t, b, metadataReq(9, "not-asked"))
	if rt := findTopic(t, resp, "not-asked"); rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-creation asked: error %d", rt.ErrorCode)
	}
	// Broker setting off: v0-3 do not create either.
	b.Config.AutoCreateTopics = false
	resp = roundTrip[*kmsg.MetadataResponse](t, b, metadataReq(1, "off"))
	if rt := findTopic(t, resp, "off"); rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-creation off: error %d", rt.ErrorCode)
	}
	if _, ok := b.Cluster.Image().Topic("not-asked"); ok {
		t.Fatal("a topic was created without permission")
	}
	b.Config.AutoCreateTopics = true

	// Failures answer the creation's error, as Kafka: a factor above the
	// live brokers, a bad name; internal topics are not auto-created.
	b.Config.DefaultReplicationFactor = 3
	req := metadataReq(12, "too-few-brokers", "bad/name", "__consumer_offsets", "too-few-brokers")
	req.AllowAutoTopicCreation = true
	resp = roundTrip[*kmsg.MetadataResponse](t, b, req)
	if len(resp.Topics) != 3 {
		t.Fatalf("%d topics answered, want 3 (a repeated name once)", len(resp.Topics))
	}
	for name, want := range map[string]int16{
		"too-few-brokers":    kerr.InvalidReplicationFactor.Code,
		"bad/name":           kerr.InvalidTopicException.Code,
		"__consumer_offsets": kerr.UnknownTopicOrPartition.Code,
	} {
		if rt := findTopic(t, resp, name); rt.ErrorCode != want {
			t.Fatalf("%s: error %d, want %d", name, rt.ErrorCode, want)
		}
	}
}

// TestMetadataTopicIDs: v12+ asks by id; unknown ids answer
// UNKNOWN_TOPIC_ID with a null name; ids before v12 are INVALID_REQUEST.
func TestMetadataTopicIDs(t *testing.T) {
	_, b := oneBroker(t)
	tp := mustCreateTopic(t, b, "by-id", 2, 1, nil, nil)
	unknown := [16]byte{1, 2, 3}

	for v := int16(10); v <= 13; v++ {
		req := metadataReq(v)
		req.Topics = nil
		for _, id := range [][16]byte{tp.ID, unknown, tp.ID} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.TopicID = id
			req.Topics = append(req.Topics, rt)
		}
		req.AllowAutoTopicCreation = true
		resp := roundTrip[*kmsg.MetadataResponse](t, b, req)
		if v < 12 {
			if len(resp.Topics) != 3 {
				t.Fatalf("v%d: %d topics", v, len(resp.Topics))
			}
			for _, rt := range resp.Topics {
				if rt.ErrorCode != kerr.InvalidRequest.Code {
					t.Fatalf("v%d: topic id answered %d, want INVALID_REQUEST", v, rt.ErrorCode)
				}
			}
			continue
		}
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: %d topics, want 2 (a repeated id once)", v, len(resp.Topics))
		}
		known, missing := resp.Topics[0], resp.Topics[1]
		if known.Topic == nil || *known.Topic != "by-id" || known.TopicID != tp.ID || known.ErrorCode != 0 || len(known.Partitions) != 2 {
			t.Fatalf("v%d: known id answered %+v", v, known)
		}
		if missing.Topic != nil || missing.TopicID != unknown || missing.ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("v%d: unknown id answered %+v", v, missing)
		}
	}
}

// TestMetadataInternalAndAuthorizedOperations: internal topics are
// flagged; authorized operations are answered as Kafka without an
// authorizer when asked, the default otherwise.
func TestMetadataInternalAndAuthorizedOperations(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "__consumer_offsets", 2, 1, nil, nil)
	for v := int16(1); v <= 13; v++ {
		for _, ask := range []bool{false, true} {
			req := metadataReq(v, "__consumer_offsets", "missing")
			req.IncludeTopicAuthorizedOperations = ask
			req.IncludeClusterAuthorizedOperations = ask
			resp := roundTrip[*kmsg.MetadataResponse](t, b, req)
			rt := findTopic(t, resp, "__consumer_offsets")
			if !rt.IsInternal {
				t.Fatalf("v%d: __consumer_offsets not flagged internal", v)
			}
			wantTopic, wantCluster := int32(-2147483648), int32(-2147483648)
			if ask && v >= 8 {
				wantTopic = topicAuthorizedOperations
				if v <= 10 {
					wantCluster = clusterAuthorizedOperations
				}
			}
			missing := findTopic(t, resp, "missing")
			if rt.AuthorizedOperations != wantTopic || missing.AuthorizedOperations != wantTopic || resp.AuthorizedOperations != wantCluster {
				t.Fatalf("v%d ask=%v: authorized operations %d/%d/%d, want %d/%d", v, ask, rt.AuthorizedOperations,
					missing.AuthorizedOperations, resp.AuthorizedOperations, wantTopic, wantCluster)
			}
		}
	}
	// The bit fields decode to Kafka's operations.
	if topicAuthorizedOperations != 3576 || clusterAuthorizedOperations != 8096 {
		t.Fatalf("authorized operation bits %d, %d", topicAuthorizedOperations, clusterAuthorizedOperations)
	}
}

// TestMetadataEmptyTopicList: v1+ with an empty list asks for no topics,
// only brokers.
func TestMetadataEmptyTopicList(t *testing.T) {
	_, b := oneBroker(t)
	mustCreateTopic(t, b, "x", 1, 1, nil, nil)
	req := metadataReq(9)
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp := roundTrip[*kmsg.MetadataResponse](t, b, req)
	if len(resp.Topics) != 0 || len(resp.Brokers) != 1 {
		t.Fatalf("%d topics, %d brokers; want 0 topics, 1 broker", len(resp.Topics), len(resp.Brokers))
	}
}

// TestMetadataBeforeFirstImage: without an image no broker is made up: a
// request naming topics answers LEADER_NOT_AVAILABLE (retriable) for each
// with no brokers; one for all topics or none is not answered at all (the
// connection closes).
func TestMetadataBeforeFirstImage(t *testing.T) {
	harnessLeakCheck(t)
	dead, err := memory.NewStore(memory.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Close() // every call fails: the cluster never gets an image
	withDead := harnessBroker(t, 1, harnessCluster(t, dead, 1, "", false))
	for _, b := range []*Broker{withDead, harnessBroker(t, 1, nil)} {
		for v := int16(0); v <= 13; v++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			resp, err := call(ctx, t, b, metadataReq(v, "a", "b"))
			cancel()
			if err != nil {
				t.Fatalf("v%d: named topics: %v", v, err)
			}
			mr := resp.(*kmsg.MetadataResponse)
			if len(mr.Brokers) != 0 || v >= 1 && mr.ControllerID != -1 || len(mr.Topics) != 2 {
				t.Fatalf("v%d: brokers %v controller %d topics %d", v, brokerIDs(mr), mr.ControllerID, len(mr.Topics))
			}
			for _, rt := range mr.Topics {
				if rt.ErrorCode != kerr.LeaderNotAvailable.Code || len(rt.Partitions) != 0 {
					t.Fatalf("v%d: topic %v answered %d", v, rt.Topic, rt.ErrorCode)
				}
			}
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
			_, err = call(ctx, t, b, metadataReq(v))
			cancel()
			if !errors.Is(err, cluster.ErrNoImage) {
				t.Fatalf("v%d: all topics without an image: %v, want the connection closed (ErrNoImage)", v, err)
			}
		}
	}
}

// TestClusterIDSameOnEveryBroker: Metadata and DescribeCluster through
// either broker of one cluster answer the backend's cluster id, in Kafka's
// format; a broker of another cluster answers another id.
func TestClusterIDSameOnEveryBroker(t *testing.T) {
	st := harnessStore(t)
	b1 := harnessBroker(t, 1, harnessCluster(t, st, 1, "", true))
	b2 := harnessBroker(t, 2, harnessCluster(t, st, 2, "", true))
	snap, err := st.Snapshot(harnessCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.ValidateClusterID(snap.ClusterID); err != nil {
		t.Fatalf("backend's cluster id: %v", err)
	}
	answers := func(b *Broker) (fromMetadata, fromDescribe string) {
		t.Helper()
		m := roundTrip[*kmsg.MetadataResponse](t, b, metadataReq(13))
		if m.ClusterID == nil {
			t.Fatalf("broker %d: Metadata v13 cluster id null", b.NodeID)
		}
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = 2
		d := roundTrip[*kmsg.DescribeClusterResponse](t, b, req)
		return *m.ClusterID, d.ClusterID
	}
	for _, b := range []*Broker{b1, b2} {
		if m, d := answers(b); m != snap.ClusterID || d != snap.ClusterID {
			t.Errorf("broker %d: Metadata cluster id %q, DescribeCluster %q; want %q", b.NodeID, m, d, snap.ClusterID)
		}
	}
	other := harnessBroker(t, 1, harnessCluster(t, harnessStore(t), 1, "", true))
	if m, d := answers(other); m == snap.ClusterID || d != m {
		t.Errorf("broker of another cluster: Metadata cluster id %q, DescribeCluster %q; want one id other than %q", m, d, snap.ClusterID)
	}
}
