package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/core/wire"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestProduceEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("pv", 2, nil, nil)
	next := int64(0)
	for v := int16(3); v <= 13; v++ {
		resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(v, 1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{records: 2})}))
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		st, sp := resp.Topics[0], resp.Topics[0].Partitions[0]
		if v >= 13 && st.TopicID != tp.ID || v < 13 && st.Topic != "pv" {
			t.Errorf("v%d: topic %q %x", v, st.Topic, st.TopicID)
		}
		if sp.ErrorCode != 0 || sp.Partition != 1 || sp.BaseOffset != next || sp.LogAppendTime != -1 {
			t.Errorf("v%d: partition %+v", v, sp)
		}
		if v >= 5 && sp.LogStartOffset != 0 {
			t.Errorf("v%d: log start %d", v, sp.LogStartOffset)
		}
		next += 2
	}
	if got := e.b.Partitions.Partitions()[1].HighWatermark(); got != next {
		t.Fatalf("high watermark %d, want %d", got, next)
	}
}

func TestProduceErrors(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("pe", 1, nil, map[string]string{topicconfig.MaxMessageBytes: "300"})
	one := func(v, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(v, acks, tp, map[int32][]byte{0: batch}))
		return resp.Topics[0].Partitions[0]
	}
	zstd := dpBatch(dpBatchSpec{attrs: int16(commitlog.CompressionZstd)})
	for _, tc := range []struct {
		name  string
		v     int16
		acks  int16
		batch []byte
		want  *kerr.Error
	}{
		{"acks 2", 9, 2, dpBatch(dpBatchSpec{}), kerr.InvalidRequiredAcks},
		{"magic 1", 7, 1, dpBatch(dpBatchSpec{magic: 1}), kerr.InvalidRecord},
		{"no records", 7, 1, nil, kerr.InvalidRecord},
		{"two batches", 7, 1, append(dpBatch(dpBatchSpec{}), dpBatch(dpBatchSpec{})...), kerr.InvalidRecord},
		{"zstd before v7", 6, 1, zstd, kerr.UnsupportedCompressionType},
		{"too large", 8, 1, dpBatch(dpBatchSpec{valueSize: 400}), kerr.MessageTooLarge},
		{"transactional", 8, 1, dpBatch(dpBatchSpec{pid: 3, epoch: 0, seq: 0, attrs: 0x10}), kerr.TransactionalIDAuthorizationFailed},
	} {
		sp := one(tc.v, tc.acks, tc.batch)
		if sp.ErrorCode != tc.want.Code {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(sp.ErrorCode), tc.want)
		}
		if tc.v >= 8 && (sp.ErrorMessage == nil || *sp.ErrorMessage == "") {
			t.Errorf("%s: no error message at v%d", tc.name, tc.v)
		}
		if sp.LogStartOffset != -1 || sp.LogAppendTime != -1 {
			t.Errorf("%s: offsets on an error %+v", tc.name, sp)
		}
	}

	// Unknown topic, unknown partition, unknown topic id.
	unknown := metadata.Topic{Name: "nope", ID: metadata.TopicID{1}, Partitions: make([]metadata.Partition, 1)}
	for _, v := range []int16{9, 13} {
		resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(v, 1, unknown, map[int32][]byte{0: dpBatch(dpBatchSpec{})}))
		want := kerr.UnknownTopicOrPartition
		if v >= 13 {
			want = kerr.UnknownTopicID
		}
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != want.Code {
			t.Errorf("unknown topic v%d: %v", v, kerr.ErrorForCode(got))
		}
	}
	// Internal topics are written by the broker only.
	internal := e.topic("__consumer_offsets", 1, nil, nil)
	resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, internal, map[int32][]byte{0: dpBatch(dpBatchSpec{})}))
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.InvalidTopicException.Code || sp.ErrorMessage == nil {
		t.Errorf("produce to __consumer_offsets: %v %v, want INVALID_TOPIC_EXCEPTION with a message", kerr.ErrorForCode(sp.ErrorCode), sp.ErrorMessage)
	}
	if p, ok := e.b.Partitions.Partition("__consumer_offsets", 0); !ok || p.LogEndOffset() != 0 {
		t.Fatalf("__consumer_offsets-0: hosted %v, a client's batch appended", ok)
	}

	bad := tp
	bad.Partitions = make([]metadata.Partition, 3)
	resp = dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, bad, map[int32][]byte{2: dpBatch(dpBatchSpec{})}))
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown partition: %v", kerr.ErrorForCode(got))
	}
	if p, _ := e.b.Partitions.Partition("pe", 0); p.LogEndOffset() != 0 {
		t.Fatalf("refused batches appended: %d", p.LogEndOffset())
	}

	// Idempotent producer: a retry answers its original offset, a gap is
	// out of order, an old epoch fenced.
	first := one(9, -1, dpBatch(dpBatchSpec{pid: 77, epoch: 1, seq: 0, records: 3}))
	one(9, -1, dpBatch(dpBatchSpec{pid: 77, epoch: 1, seq: 3}))
	if retry := one(9, -1, dpBatch(dpBatchSpec{pid: 77, epoch: 1, seq: 0, records: 3})); retry.ErrorCode != 0 || retry.BaseOffset != first.BaseOffset {
		t.Errorf("retry: %+v, first %+v", retry, first)
	}
	if gap := one(9, -1, dpBatch(dpBatchSpec{pid: 77, epoch: 1, seq: 9})); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("gap: %v", kerr.ErrorForCode(gap.ErrorCode))
	}
	if old := one(9, -1, dpBatch(dpBatchSpec{pid: 77, epoch: 0, seq: 4})); old.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Errorf("old epoch: %v", kerr.ErrorForCode(old.ErrorCode))
	}
}

func TestProduceAcksZero(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("p0", 1, nil, nil)
	resp, err := dpCall(t, e.b, produceReq(7, 0, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{})}))
	if err != nil || resp != nil {
		t.Fatalf("acks=0: response %v, error %v; want neither", resp, err)
	}
	if p := e.b.Partitions.Partitions()[0]; p.LogEndOffset() != 1 {
		t.Fatalf("acks=0 not appended: %d", p.LogEndOffset())
	}
	// A failure closes the connection (a Go error), so the client notices.
	resp, err = dpCall(t, e.b, produceReq(7, 0, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{magic: 1})}))
	if err == nil || resp != nil {
		t.Fatalf("failed acks=0: response %v, error %v; want an error", resp, err)
	}
}

func TestProduceNotLeaderAndAcksAll(t *testing.T) {
	e := newDPEnv(t, nil)
	b2 := e.startBroker(e.store.Node("b2"), 2, nil)
	waitFor(t, "broker 2 in broker 1's image", func() bool { return e.b.Cluster.Image().IsLive(2) })
	// Partition 0 led by broker 2, partition 1 by broker 1 with broker 2 in
	// the ISR (which never fetches).
	tp := e.topic("nl", 0, map[int32][]int32{0: {2, 1}, 1: {1, 2}}, nil)
	e.sync(b2)

	for _, v := range []int16{9, 10, 13} {
		resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(v, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{})}))
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("v%d: %v", v, kerr.ErrorForCode(sp.ErrorCode))
		}
		if v < 10 {
			continue
		}
		if sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != 0 {
			t.Errorf("v%d: current leader %+v", v, sp.CurrentLeader)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Host != "127.0.0.1" || resp.Brokers[0].Port != 9002 {
			t.Errorf("v%d: brokers %+v", v, resp.Brokers)
		}
	}

	// acks=-1 on partition 1 waits for broker 2, which never fetches: the
	// answer is REQUEST_TIMED_OUT after the request's timeout, while the
	// batch stays in the log (as in Kafka).
	req := produceReq(9, -1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{})})
	req.TimeoutMillis = 50
	start := time.Now()
	resp := dpRoundTrip[*kmsg.ProduceResponse](t, e.b, req)
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=-1 without replication: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("did not wait for the timeout")
	}

	// With the follower's fetch the deferred answer succeeds.
	req = produceReq(9, -1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{})})
	done := make(chan *kmsg.ProduceResponse, 1)
	go func() {
		r, _ := dpCall(t, e.b, req)
		pr, _ := r.(*kmsg.ProduceResponse)
		done <- pr
	}()
	p1, _ := e.b.Partitions.Partition("nl", 1)
	waitFor(t, "second batch appended", func() bool { return p1.LogEndOffset() == 2 })
	p1.RecordFollowerFetch(2, 2)
	select {
	case pr := <-done:
		if pr == nil || pr.Topics[0].Partitions[0].ErrorCode != 0 || pr.Topics[0].Partitions[0].BaseOffset != 1 {
			t.Fatalf("acks=-1 after replication: %+v", pr)
		}
	case <-time.After(dpWait):
		t.Fatal("acks=-1 not answered after replication")
	}

	// A connection that closes while the answer waits gets none.
	ctx, cancel := context.WithCancel(context.Background())
	req = produceReq(9, -1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{})})
	errc := make(chan error, 1)
	go func() {
		_, err := dpCallCtx(ctx, t, e.b, req)
		errc <- err
	}()
	waitFor(t, "third batch appended", func() bool { return p1.LogEndOffset() == 3 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("deferred produce answered after its connection closed")
	}

	// min.insync.replicas above the ISR: NOT_ENOUGH_REPLICAS, nothing
	// appended.
	ctx2, cancel2 := context.WithTimeout(context.Background(), dpWait)
	defer cancel2()
	if _, err := e.b.Cluster.AlterTopicConfigs(ctx2, "nl", func(map[string]string) (map[string]string, error) {
		return map[string]string{topicconfig.MinInsyncReplicas: "3"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.sync(e.b)
	resp = dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, -1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{})}))
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("min.insync.replicas 3: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if p1.LogEndOffset() != 3 {
		t.Fatal("appended despite NOT_ENOUGH_REPLICAS")
	}
}

// BenchmarkProduceHandler: one Produce request (v9, acks=1) carrying a
// 16 KiB batch of 16 records of 1 KiB, through request decoding, the
// handler and response encoding, as the server runs it.
//
//	go test -run '^$' -bench Handler -benchmem ./core/protocol/
func BenchmarkProduceHandler(b *testing.B) {
	e := newDPEnv(b, nil)
	tp := e.topic("bench", 1, nil, nil)
	batch := dpBatch(dpBatchSpec{records: 16, valueSize: 1000})
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, produceReq(9, 1, tp, map[int32][]byte{0: batch}), 1)[4:]
	// The records are the last bytes of the frame before the tags.
	at := bytes.Index(frame, batch[12:20]) - 12
	api, _ := Lookup(0)
	ctx := context.Background()
	var h wire.Header
	out := make([]byte, 0, 256)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint64(frame[at:], 0) // the append wrote the offset in place
		body, rest, err := wire.ParseHeader(frame, &h)
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.DecodeBody(body, rest); err != nil {
			b.Fatal(err)
		}
		r := &Request{Header: h, Body: body}
		resp, err := api.Handle(ctx, e.b, r)
		if err != nil {
			b.Fatal(err)
		}
		if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatal(kerr.ErrorForCode(code))
		}
		out = wire.AppendResponse(out[:0], h.CorrelationID, resp)
	}
}
