package protocol_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// End-to-end tests of the metadata and admin APIs: real brokers
// (core/broker) on loopback over the in-memory metadata backend, real
// franz-go clients over TCP. Requests go through kgo's own routing
// (CreateTopics to the controller, broker config resources to that
// broker), or are pinned to one broker to show that any broker answers
// admin requests and that every broker tells the same story.

const e2eWait = 15 * time.Second

// e2eSession is the memory backend's session timeout in these tests; the
// brokers heartbeat every e2eHeartbeat.
const (
	e2eSession   = 1500 * time.Millisecond
	e2eHeartbeat = 100 * time.Millisecond
)

func e2eCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	t.Cleanup(cancel)
	return ctx
}

func e2eStore(t *testing.T) *memory.Store {
	t.Helper()
	brokertest.LeakCheck(t)
	st, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: e2eSession})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startE2EBroker starts broker id over backend on a loopback port; ready
// waits until it sees its own registration.
func startE2EBroker(t *testing.T, id int32, backend metadata.Backend, ready bool) *broker.Broker {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.BrokerID = id
	cfg.DataDir = t.TempDir()
	cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.HTTPAddr = ""
	cfg.Cluster.HeartbeatInterval = e2eHeartbeat
	cfg.Cluster.RetryBackoff = 10 * time.Millisecond
	cfg.Cluster.MaxRetryBackoff = 100 * time.Millisecond
	cfg.Cluster.CallTimeout = time.Second
	cfg.Cluster.ShutdownTimeout = time.Second
	b, err := broker.New(cfg, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(e2eCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if ready {
		if err := b.WaitReady(e2eCtx(t)); err != nil {
			t.Fatalf("broker %d not ready: %v", id, err)
		}
	}
	return b
}

// e2eClient is a kgo client bootstrapped from addr only.
func e2eClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// pinned is the one seed broker of cl: requests to it are not rerouted.
func pinned(cl *kgo.Client) *kgo.Broker { return cl.SeedBrokers()[0] }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", e2eWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, int32(n)
}

func metadataFor(ctx context.Context, t *testing.T, r interface {
	Request(context.Context, kmsg.Request) (kmsg.Response, error)
}, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := r.Request(ctx, req)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	return resp.(*kmsg.MetadataResponse)
}

func brokersOf(resp *kmsg.MetadataResponse) string {
	var s []string
	for _, b := range resp.Brokers {
		s = append(s, fmt.Sprintf("%d@%s:%d", b.NodeID, b.Host, b.Port))
	}
	return fmt.Sprint(s)
}

func topicOf(resp *kmsg.MetadataResponse, name string) (kmsg.MetadataResponseTopic, bool) {
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == name {
			return t, true
		}
	}
	return kmsg.MetadataResponseTopic{}, false
}

func describeTopicConfig(ctx context.Context, t *testing.T, cl *kgo.Client, topic, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{name}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 {
		t.Fatalf("DescribeConfigs %s %s: %+v, %v", topic, name, resp, err)
	}
	return resp.Resources[0].Configs[0]
}

// TestE2EAdminOneBroker walks the admin APIs with a kgo client against one
// broker: create (with configs), describe, alter both ways, grow, delete
// by id, auto-create, describe the cluster and the broker.
func TestE2EAdminOneBroker(t *testing.T) {
	st := e2eStore(t)
	b := startE2EBroker(t, 1, st.Node("n1"), true)
	cl := e2eClient(t, b.Addr())
	ctx := e2eCtx(t)
	host, port := hostPort(t, b.Addr())

	meta := metadataFor(ctx, t, cl)
	if len(meta.Brokers) != 1 || meta.Brokers[0].NodeID != 1 || meta.Brokers[0].Host != host || meta.Brokers[0].Port != port || meta.ControllerID != 1 {
		t.Fatalf("Metadata brokers %s controller %d; want 1@%s", brokersOf(meta), meta.ControllerID, b.Addr())
	}

	// CreateTopics, routed by kgo to the controller.
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 5000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "orders", 3, 1
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("3600000")
	ct.Configs = append(ct.Configs, cfg)
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil || cresp.Topics[0].ErrorCode != 0 || cresp.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("CreateTopics: %+v, %v", cresp, err)
	}
	id := cresp.Topics[0].TopicID

	meta = metadataFor(ctx, t, cl, "orders")
	if tp, ok := topicOf(meta, "orders"); !ok || tp.ErrorCode != 0 || tp.TopicID != id || len(tp.Partitions) != 3 {
		t.Fatalf("Metadata after create: %+v", meta.Topics)
	} else {
		for i, p := range tp.Partitions {
			stored, _ := b.Cluster().Image().Partition("orders", int32(i))
			if p.ErrorCode != 0 || p.Leader != 1 || p.LeaderEpoch != stored.LeaderEpoch || !slices.Equal(p.Replicas, []int32{1}) {
				t.Fatalf("partition %+v; the image has %+v", p, stored)
			}
		}
	}
	if c := describeTopicConfig(ctx, t, cl, "orders", "retention.ms"); *c.Value != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms described as %s from %v", *c.Value, c.Source)
	}

	// IncrementalAlterConfigs, then AlterConfigs replacing the set.
	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Op, ic.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("7200000")
	ir.Configs = append(ir.Configs, ic)
	inc.Resources = append(inc.Resources, ir)
	if iresp, err := inc.RequestWith(ctx, cl); err != nil || iresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("IncrementalAlterConfigs: %+v, %v", iresp, err)
	}
	if c := describeTopicConfig(ctx, t, cl, "orders", "retention.ms"); *c.Value != "7200000" {
		t.Fatalf("retention.ms after incremental alter: %s", *c.Value)
	}
	alter := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
	ac := kmsg.NewAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "segment.bytes", kmsg.StringPtr("1048576")
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)
	if aresp, err := alter.RequestWith(ctx, cl); err != nil || aresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("AlterConfigs: %+v, %v", aresp, err)
	}
	if c := describeTopicConfig(ctx, t, cl, "orders", "retention.ms"); *c.Value != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms after AlterConfigs replaced the set: %s from %v", *c.Value, c.Source)
	}

	// CreatePartitions.
	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.TimeoutMillis = 5000
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = "orders", 5
	grow.Topics = append(grow.Topics, gt)
	if gresp, err := grow.RequestWith(ctx, cl); err != nil || gresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreatePartitions: %+v, %v", gresp, err)
	}
	if tp, _ := topicOf(metadataFor(ctx, t, cl, "orders"), "orders"); len(tp.Partitions) != 5 {
		t.Fatalf("%d partitions after CreatePartitions", len(tp.Partitions))
	}

	// The broker's own configs, routed by kgo to broker 1.
	dbc := kmsg.NewPtrDescribeConfigsRequest()
	br := kmsg.NewDescribeConfigsRequestResource()
	br.ResourceType, br.ResourceName, br.ConfigNames = kmsg.ConfigResourceTypeBroker, "1", []string{"num.partitions", "log.retention.ms"}
	dbc.Resources = append(dbc.Resources, br)
	if dresp, err := dbc.RequestWith(ctx, cl); err != nil || dresp.Resources[0].ErrorCode != 0 || len(dresp.Resources[0].Configs) != 2 {
		t.Fatalf("DescribeConfigs broker: %+v, %v", dresp, err)
	}

	// DescribeCluster.
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dc.ErrorCode != 0 || dc.ControllerID != 1 || len(dc.Brokers) != 1 || dc.Brokers[0].Host != host || dc.Brokers[0].Port != port {
		t.Fatalf("DescribeCluster: %+v, %v", dc, err)
	}

	// Auto-creation through Metadata.
	auto := kmsg.NewPtrMetadataRequest()
	at := kmsg.NewMetadataRequestTopic()
	at.Topic = kmsg.StringPtr("auto-created")
	auto.Topics = append(auto.Topics, at)
	auto.AllowAutoTopicCreation = true
	aresp, err := auto.RequestWith(ctx, cl)
	if tp, ok := topicOf(aresp, "auto-created"); err != nil || !ok || tp.ErrorCode != 0 || len(tp.Partitions) != 1 || tp.Partitions[0].Leader != 1 {
		t.Fatalf("auto-creation: %+v, %v", aresp, err)
	}

	// DeleteTopics by id.
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 5000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = id
	del.Topics = append(del.Topics, dt)
	if dresp, err := del.RequestWith(ctx, cl); err != nil || dresp.Topics[0].ErrorCode != 0 || dresp.Topics[0].Topic == nil || *dresp.Topics[0].Topic != "orders" {
		t.Fatalf("DeleteTopics by id: %+v, %v", dresp, err)
	}
	if tp, _ := topicOf(metadataFor(ctx, t, cl, "orders"), "orders"); tp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("deleted topic answered %d", tp.ErrorCode)
	}
}

// TestE2ETwoBrokersOneView: two brokers sharing one backend each list
// both, with the same addresses; a topic created through either broker
// (the controller or not) is visible through the other, identically; a
// broker that stops
// heartbeating disappears from the other's answers, and its partitions
// answer LEADER_NOT_AVAILABLE with leader -1 and their real epoch.
func TestE2ETwoBrokersOneView(t *testing.T) {
	st := e2eStore(t)
	b1 := startE2EBroker(t, 1, st.Node("n1"), true)
	n2 := st.Node("n2")
	t.Cleanup(func() { _ = n2.Close() })
	b2 := startE2EBroker(t, 2, n2, true)
	cl1, cl2 := e2eClient(t, b1.Addr()), e2eClient(t, b2.Addr())
	to1, to2 := pinned(cl1), pinned(cl2)
	ctx := e2eCtx(t)

	h1, p1 := hostPort(t, b1.Addr())
	h2, p2 := hostPort(t, b2.Addr())
	want := fmt.Sprint([]string{fmt.Sprintf("1@%s:%d", h1, p1), fmt.Sprintf("2@%s:%d", h2, p2)})
	for i, to := range []*kgo.Broker{to1, to2} {
		eventually(t, fmt.Sprintf("broker %d lists both brokers", i+1), func() bool {
			m := metadataFor(ctx, t, to)
			return brokersOf(m) == want && m.ControllerID == 1
		})
	}

	// Created through broker 2 (not the controller), 4 partitions on both.
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 5000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "shared", 4, 2
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, to2)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics through broker 2: %+v, %v", cresp, err)
	}
	from2, ok := topicOf(metadataFor(ctx, t, to2, "shared"), "shared")
	if !ok || from2.ErrorCode != 0 || len(from2.Partitions) != 4 {
		t.Fatalf("broker 2 does not show the topic it created: %+v", from2)
	}
	var from1 kmsg.MetadataResponseTopic
	eventually(t, "broker 1 shows the topic", func() bool {
		from1, ok = topicOf(metadataFor(ctx, t, to1, "shared"), "shared")
		return ok && from1.ErrorCode == 0
	})
	if from1.TopicID != from2.TopicID || fmt.Sprint(from1.Partitions) != fmt.Sprint(from2.Partitions) {
		t.Fatalf("the brokers disagree:\n1: %+v\n2: %+v", from1.Partitions, from2.Partitions)
	}
	for _, p := range from1.Partitions {
		if len(p.Replicas) != 2 || p.Replicas[0] != p.Leader || p.ErrorCode != 0 {
			t.Fatalf("partition %+v", p)
		}
	}

	// Created through broker 1: one replica per partition, spread over
	// both brokers; visible through broker 2.
	create.Topics[0].Topic, create.Topics[0].ReplicationFactor = "solo", 1
	if cresp, err := create.RequestWith(ctx, to1); err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics through broker 1: %+v, %v", cresp, err)
	}
	var solo kmsg.MetadataResponseTopic
	eventually(t, "broker 2 shows the topic", func() bool {
		solo, ok = topicOf(metadataFor(ctx, t, to2, "solo"), "solo")
		return ok && solo.ErrorCode == 0
	})
	leaders := map[int32]int{}
	for _, p := range solo.Partitions {
		leaders[p.Leader]++
	}
	if leaders[1] != 2 || leaders[2] != 2 {
		t.Fatalf("leaders %v; want the 4 partitions spread over both brokers", leaders)
	}

	// Broker 2 loses its backend: no more heartbeats, fenced after the
	// session timeout, gone from broker 1's answers.
	_ = n2.Close()
	eventually(t, "broker 2 leaves broker 1's Metadata", func() bool {
		return len(metadataFor(ctx, t, to1).Brokers) == 1
	})
	m := metadataFor(ctx, t, to1, "solo", "shared")
	if m.Brokers[0].NodeID != 1 || m.ControllerID != 1 {
		t.Fatalf("after fencing: brokers %s controller %d", brokersOf(m), m.ControllerID)
	}
	after, _ := topicOf(m, "solo")
	for i, p := range after.Partitions {
		before := solo.Partitions[i]
		if p.LeaderEpoch != before.LeaderEpoch {
			t.Fatalf("partition %d: epoch %d, was %d", i, p.LeaderEpoch, before.LeaderEpoch)
		}
		switch before.Leader {
		case 2:
			if p.Leader != -1 || p.ErrorCode != kerr.LeaderNotAvailable.Code || !slices.Equal(p.OfflineReplicas, []int32{2}) {
				t.Fatalf("partition %d on the fenced broker answered %+v", i, p)
			}
		case 1:
			if p.Leader != 1 || p.ErrorCode != 0 || len(p.OfflineReplicas) != 0 {
				t.Fatalf("partition %d on the live broker answered %+v", i, p)
			}
		}
	}
	shared, _ := topicOf(m, "shared")
	for i, p := range shared.Partitions {
		if !slices.Equal(p.OfflineReplicas, []int32{2}) {
			t.Fatalf("shared partition %d: offline replicas %v, want [2]", i, p.OfflineReplicas)
		}
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeFencedBrokers = true
	dresp, err := dc.RequestWith(ctx, to1)
	if err != nil || len(dresp.Brokers) != 2 || dresp.Brokers[0].IsFenced || !dresp.Brokers[1].IsFenced {
		t.Fatalf("DescribeCluster with fenced brokers: %+v, %v", dresp, err)
	}
	dresp, err = kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, to1)
	if err != nil || len(dresp.Brokers) != 1 || dresp.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster: %+v, %v", dresp, err)
	}
}

// TestE2EMetadataBeforeFirstImage: a broker that never got its metadata
// image names no broker: kgo gets LEADER_NOT_AVAILABLE for a named topic
// and no answer (a closed connection) for all topics.
func TestE2EMetadataBeforeFirstImage(t *testing.T) {
	st := e2eStore(t)
	dead := st.Node("dead")
	_ = dead.Close() // every call on this handle fails
	b := startE2EBroker(t, 1, dead, false)
	cl := e2eClient(t, b.Addr(), kgo.RequestRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()

	m := metadataFor(ctx, t, pinned(cl), "anything")
	if len(m.Brokers) != 0 || m.ControllerID != -1 || len(m.Topics) != 1 || m.Topics[0].ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("named topic without an image: brokers %s controller %d topics %+v", brokersOf(m), m.ControllerID, m.Topics)
	}
	if resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, pinned(cl)); err == nil {
		t.Fatalf("all topics without an image answered %+v; want no answer", resp)
	}
}
