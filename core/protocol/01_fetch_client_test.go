package protocol_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/memory"
)

// End-to-end tests of the data path (Produce, Fetch, ListOffsets,
// DeleteRecords, InitProducerId, OffsetForLeaderEpoch, DescribeLogDirs): a
// real broker (core/broker) on loopback over the in-memory metadata
// backend, real franz-go clients (kgo, kadm) over TCP.

const dpeWait = 15 * time.Second

// dpeBroker starts one ready broker with a leak check around the test.
func dpeBroker(t *testing.T) *broker.Broker {
	t.Helper()
	brokertest.LeakCheck(t)
	st, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.HTTPAddr = ""
	cfg.Cluster.HeartbeatInterval = 100 * time.Millisecond
	cfg.Cluster.RetryBackoff = 10 * time.Millisecond
	cfg.Cluster.MaxRetryBackoff = 100 * time.Millisecond
	cfg.Cluster.ShutdownTimeout = time.Second
	b, err := broker.New(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := dpeCtx(t)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

func dpeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dpeWait)
	t.Cleanup(cancel)
	return ctx
}

func dpeClient(t *testing.T, b *broker.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// dpeTopic creates a topic and waits until the broker serves it.
func dpeTopic(t *testing.T, b *broker.Broker, name string, partitions int32) {
	t.Helper()
	ctx := dpeCtx(t)
	cl := dpeClient(t, b)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics %s: %v %+v", name, err, resp)
	}
	// The topic is in the image; the broker opens its partitions right
	// after. A produce before that gets NOT_LEADER_OR_FOLLOWER and
	// retries, so waiting is not needed for correctness; it keeps the
	// tests' timing tight.
	for p := range partitions {
		for dpeListOffset(ctx, t, cl, name, p, -1).ErrorCode != 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("topic %s not served", name)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// dpeListOffset asks the partition's leader for the offset of timestamp ts.
func dpeListOffset(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, p int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = p, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// TestClientsProduceConsume: an idempotent kgo producer with acks=all
// through every compression codec, a kgo consumer reading everything back
// in order, and a raw Fetch showing the batches are served as stored
// (compressed as sent).
func TestClientsProduceConsume(t *testing.T) {
	b := dpeBroker(t)
	const topic, parts, perCodec = "e2e", 3, 120
	dpeTopic(t, b, topic, parts)
	ctx := dpeCtx(t)
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	want := map[int32][]string{}
	for ci, codec := range codecs {
		pr := dpeClient(t, b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := range perCodec {
			recs = append(recs, &kgo.Record{Partition: int32(i % parts), Value: fmt.Appendf(nil, "codec-%d-record-%04d-%s", ci, i, "padding-to-make-compression-worth-it")})
		}
		if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("codec %d: produce: %v", ci, err)
		}
		for _, r := range recs {
			want[r.Partition] = append(want[r.Partition], string(r.Value))
		}
		pr.Close()
	}

	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range int32(parts) {
		offsets[topic][p] = kgo.NewOffset().AtStart()
	}
	cons := dpeClient(t, b, kgo.ConsumePartitions(offsets))
	got := map[int32][]string{}
	n := 0
	for n < len(codecs)*perCodec {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v (after %d records)", err, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := int64(len(got[r.Partition])); r.Offset != want {
				t.Errorf("partition %d: offset %d, want %d", r.Partition, r.Offset, want)
			}
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p := range int32(parts) {
		if !slices.Equal(got[p], want[p]) {
			t.Errorf("partition %d: %d records differ from the %d produced", p, len(got[p]), len(want[p]))
		}
	}

	// Raw Fetch of partition 0: the stored batches carry every codec.
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	// Another client: cons's own fetches, long polling at the end of the
	// partitions, hold its fetch connection (answers are in order).
	raw := dpeClient(t, b)
	meta, err := mreq.RequestWith(ctx, raw)
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MinBytes = 50<<20, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, meta.Topics[0].TopicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 50 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	seen := map[int]bool{}
	var offset int64
	for offset < int64(len(want[0])) {
		req.Topics[0].Partitions[0].FetchOffset = offset
		resp, err := req.RequestWith(ctx, raw)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("raw fetch: %v %+v", err, resp)
		}
		data := resp.Topics[0].Partitions[0].RecordBatches
		for pos := 0; pos+61 <= len(data); pos += 12 + int(binary.BigEndian.Uint32(data[pos+8:])) {
			seen[int(binary.BigEndian.Uint16(data[pos+21:])&7)] = true
			offset = int64(binary.BigEndian.Uint64(data[pos:])) + int64(binary.BigEndian.Uint32(data[pos+23:])) + 1
		}
	}
	for c := range 5 {
		if !seen[c] {
			t.Errorf("no stored batch with codec %d", c)
		}
	}
}

// TestClientsOffsetsAndAdmin: ListOffsets (earliest, latest, max
// timestamp, by time), DeleteRecords, OffsetForLeaderEpoch and
// DescribeLogDirs through kgo's routing, against produced data.
func TestClientsOffsetsAndAdmin(t *testing.T) {
	b := dpeBroker(t)
	const topic = "adm"
	dpeTopic(t, b, topic, 1)
	ctx := dpeCtx(t)
	cl := dpeClient(t, b, kgo.DefaultProduceTopic(topic))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 10 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name          string
		ts            int64
		offset, stamp int64
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, 10, -1},
		{"max timestamp", -3, 9, base.Add(9 * time.Second).UnixMilli()},
		{"by time", base.Add(3500 * time.Millisecond).UnixMilli(), 4, base.Add(4 * time.Second).UnixMilli()},
		{"after the last", base.Add(time.Minute).UnixMilli(), -1, -1},
	} {
		p := dpeListOffset(ctx, t, cl, topic, 0, tc.ts)
		if p.ErrorCode != 0 || p.Offset != tc.offset || p.Timestamp != tc.stamp || tc.offset >= 0 && p.LeaderEpoch != 0 {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Offset = 4
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics, dr.TimeoutMillis = append(dr.Topics, drt), 5000
	drResp, err := dr.RequestWith(ctx, cl)
	if err != nil || drResp.Topics[0].Partitions[0].ErrorCode != 0 || drResp.Topics[0].Partitions[0].LowWatermark != 4 {
		t.Fatalf("DeleteRecords: %v %+v", err, drResp)
	}
	if p := dpeListOffset(ctx, t, cl, topic, 0, -2); p.Offset != 4 {
		t.Fatalf("earliest after DeleteRecords: %+v", p)
	}

	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oe.ReplicaID = -1
	oet := kmsg.NewOffsetForLeaderEpochRequestTopic()
	oet.Topic = topic
	oep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	oep.CurrentLeaderEpoch, oep.LeaderEpoch = 0, 0
	oet.Partitions = append(oet.Partitions, oep)
	oe.Topics = append(oe.Topics, oet)
	oeResp, err := oe.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := oeResp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 10 {
		t.Fatalf("OffsetForLeaderEpoch: %+v", p)
	}

	// Pinned to the broker: kgo's merge of sharded DescribeLogDirs
	// answers drops the volume sizes.
	dl := kmsg.NewPtrDescribeLogDirsRequest()
	raw, err := cl.Broker(1).Request(ctx, dl)
	if err != nil {
		t.Fatal(err)
	}
	dlResp := raw.(*kmsg.DescribeLogDirsResponse)
	if len(dlResp.Dirs) != 1 {
		t.Fatalf("DescribeLogDirs: %+v", dlResp)
	}
	d := dlResp.Dirs[0]
	if d.ErrorCode != 0 || d.TotalBytes <= 0 || len(d.Topics) != 1 || d.Topics[0].Topic != topic || d.Topics[0].Partitions[0].Size <= 0 {
		t.Fatalf("DescribeLogDirs v%d: %+v", dlResp.Version, d)
	}
}

// TestClientLongPoll: a consumer waiting with a long max wait gets a
// record as soon as it is produced — the wait wakes on the append rather
// than running out.
func TestClientLongPoll(t *testing.T) {
	b := dpeBroker(t)
	const topic = "poll"
	dpeTopic(t, b, topic, 1)
	ctx := dpeCtx(t)
	cons := dpeClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(time.Minute))
	got := make(chan string, 1)
	go func() {
		for {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			var v string
			fs.EachRecord(func(r *kgo.Record) { v = string(r.Value) })
			if v != "" {
				got <- v
				return
			}
		}
	}()
	pr := dpeClient(t, b, kgo.DefaultProduceTopic(topic))
	if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != "wake" {
			t.Fatalf("got %q", v)
		}
	case <-ctx.Done():
		t.Fatal("the long poll did not wake on the append (it would wait a minute)")
	}
}
