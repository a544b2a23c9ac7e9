package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/wire"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestFetchEveryVersion(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("fv", 2, nil, nil)
	batch := dpBatch(dpBatchSpec{records: 3})
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{1: batch}))
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{1: dpBatch(dpBatchSpec{})}))
	for v := int16(4); v <= 18; v++ {
		req := fetchReq(v, tp, map[int32]int64{0: 0, 1: 0})
		for _, iso := range []int8{0, 1} {
			req.IsolationLevel = iso
			resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req)
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
				t.Fatalf("v%d: %+v", v, resp)
			}
			if v >= 13 && resp.Topics[0].TopicID != tp.ID || v < 13 && resp.Topics[0].Topic != "fv" {
				t.Errorf("v%d: topic %+v", v, resp.Topics[0])
			}
			if v >= 7 && resp.SessionID != 0 {
				t.Errorf("v%d: session %d", v, resp.SessionID)
			}
			p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
			if p0.ErrorCode != 0 || p0.HighWatermark != 0 || p0.RecordBatches == nil || len(p0.RecordBatches) != 0 {
				t.Errorf("v%d: partition 0 %+v", v, p0)
			}
			if p1.ErrorCode != 0 || p1.HighWatermark != 4 || p1.LastStableOffset != 4 || !slices.Equal(dpBatchOffsets(p1.RecordBatches), []int64{0, 3}) {
				t.Errorf("v%d: partition 1 %+v", v, p1)
			}
			if v >= 5 && p1.LogStartOffset != 0 {
				t.Errorf("v%d: log start %d", v, p1.LogStartOffset)
			}
			if !bytes.Equal(p1.RecordBatches[16:len(batch)], batch[16:]) {
				t.Errorf("v%d: batch not served as stored", v)
			}
			if (iso == 1) != (p1.AbortedTransactions != nil) {
				t.Errorf("v%d isolation %d: aborted transactions %v", v, iso, p1.AbortedTransactions)
			}
			if v >= 11 && p1.PreferredReadReplica != -1 {
				t.Errorf("v%d: preferred read replica %d", v, p1.PreferredReadReplica)
			}
		}
	}
}

func TestFetchLimits(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("fl", 2, nil, nil)
	for range 3 {
		dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{
			0: dpBatch(dpBatchSpec{valueSize: 1000}),
			1: dpBatch(dpBatchSpec{valueSize: 1000}),
		}))
	}
	size := len(dpBatch(dpBatchSpec{valueSize: 1000}))
	for _, tc := range []struct {
		name              string
		maxBytes, partMax int32
		want0, want1      int
	}{
		{"everything", 1 << 20, 1 << 20, 3, 3},
		{"partition max of two batches", 1 << 20, int32(2 * size), 2, 2},
		{"first partition above max bytes still returns one batch", 10, 10, 1, 0},
		{"max bytes shared", int32(4 * size), 1 << 20, 3, 1},
		{"zero partition max, first batch only", 1 << 20, 0, 1, 0},
	} {
		req := fetchReq(12, tp, map[int32]int64{0: 0, 1: 0})
		req.MaxBytes = tc.maxBytes
		for i := range req.Topics[0].Partitions {
			req.Topics[0].Partitions[i].PartitionMaxBytes = tc.partMax
		}
		resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req)
		ps := resp.Topics[0].Partitions
		if got0, got1 := len(dpBatchOffsets(ps[0].RecordBatches)), len(dpBatchOffsets(ps[1].RecordBatches)); got0 != tc.want0 || got1 != tc.want1 {
			t.Errorf("%s: %d and %d batches, want %d and %d", tc.name, got0, got1, tc.want0, tc.want1)
		}
	}
}

func TestFetchErrorsAndSessions(t *testing.T) {
	e := newDPEnv(t, nil)
	b2 := e.startBroker(e.store.Node("b2"), 2, nil)
	waitFor(t, "broker 2 in broker 1's image", func() bool { return e.b.Cluster.Image().IsLive(2) })
	tp := e.topic("fe", 0, map[int32][]int32{0: {1}, 1: {2}}, nil)
	e.sync(b2)
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{records: 2})}))

	// Incremental session requests: FETCH_SESSION_ID_NOT_FOUND at the top.
	req := fetchReq(7, tp, map[int32]int64{0: 0})
	req.SessionID, req.SessionEpoch = 5, 3
	if resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("incremental session: %+v", resp)
	}
	// A new session request (epoch 0) and a closing one (-1): full
	// sessionless answers.
	for _, epoch := range []int32{0, -1} {
		req.SessionID, req.SessionEpoch = 5, epoch
		resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req)
		if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatalf("session epoch %d: %+v", epoch, resp)
		}
	}

	// Partition 1 is led by broker 2: NOT_LEADER_OR_FOLLOWER with the
	// leader (v12+) and its endpoint (v16+).
	for _, v := range []int16{11, 12, 16} {
		resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, fetchReq(v, tp, map[int32]int64{1: 0}))
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.NotLeaderForPartition.Code || p.HighWatermark != -1 || p.LogStartOffset != -1 {
			t.Fatalf("v%d follower: %+v", v, p)
		}
		if v >= 12 && (p.CurrentLeader.LeaderID != 2 || p.CurrentLeader.LeaderEpoch != 0) {
			t.Errorf("v%d: current leader %+v", v, p.CurrentLeader)
		}
		if v >= 16 != (len(resp.Brokers) == 1 && resp.Brokers[0].NodeID == 2 && resp.Brokers[0].Port == 9002) {
			t.Errorf("v%d: brokers %+v", v, resp.Brokers)
		}
	}

	for _, tc := range []struct {
		name   string
		v      int16
		edit   func(*kmsg.FetchRequestTopicPartition)
		want   *kerr.Error
		topics *metadata.Topic
	}{
		{"out of range", 12, func(p *kmsg.FetchRequestTopicPartition) { p.FetchOffset = 3 }, kerr.OffsetOutOfRange, nil},
		{"current epoch", 12, func(p *kmsg.FetchRequestTopicPartition) { p.CurrentLeaderEpoch = 0 }, nil, nil},
		{"unknown epoch", 12, func(p *kmsg.FetchRequestTopicPartition) { p.CurrentLeaderEpoch = 1 }, kerr.UnknownLeaderEpoch, nil},
		{"epoch ignored before v9", 8, func(p *kmsg.FetchRequestTopicPartition) { p.CurrentLeaderEpoch = 1 }, nil, nil},
		{"unknown topic id", 13, nil, kerr.UnknownTopicID, &metadata.Topic{Name: "fe", ID: metadata.TopicID{7}, Partitions: tp.Partitions}},
		{"unknown topic", 12, nil, kerr.UnknownTopicOrPartition, &metadata.Topic{Name: "nope", Partitions: tp.Partitions}},
	} {
		top := tp
		if tc.topics != nil {
			top = *tc.topics
		}
		req := fetchReq(tc.v, top, map[int32]int64{0: 0})
		if tc.edit != nil {
			tc.edit(&req.Topics[0].Partitions[0])
		}
		req.MaxWaitMillis = 5000 // errors answer at once
		start := time.Now()
		p := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req).Topics[0].Partitions[0]
		want := int16(0)
		if tc.want != nil {
			want = tc.want.Code
		}
		if p.ErrorCode != want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), tc.want)
		}
		if tc.want != nil && time.Since(start) > 2*time.Second {
			t.Errorf("%s: error waited", tc.name)
		}
	}

	// A last fetched epoch the log does not have: diverging epoch.
	req = fetchReq(12, tp, map[int32]int64{0: 2})
	req.Topics[0].Partitions[0].LastFetchedEpoch = 3
	p := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 || len(p.RecordBatches) != 0 || p.HighWatermark != 2 {
		t.Fatalf("diverging: %+v", p)
	}
}

func TestFetchLongPoll(t *testing.T) {
	e := newDPEnv(t, nil)
	tp := e.topic("lp", 2, nil, nil)

	// Nothing there: waits max_wait_ms, answers empty.
	req := fetchReq(12, tp, map[int32]int64{0: 0, 1: 0})
	req.MaxWaitMillis = 60
	start := time.Now()
	resp := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req)
	if time.Since(start) < 60*time.Millisecond || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("empty long poll answered after %v", time.Since(start))
	}

	// Woken by an append to either partition, long before max_wait_ms.
	for _, part := range []int32{0, 1} {
		req := fetchReq(12, tp, map[int32]int64{0: 0, 1: 0})
		req.MaxWaitMillis = int32(dpWait / time.Millisecond)
		req.Topics[0].Partitions[part].FetchOffset = 0
		if part == 1 {
			req.Topics[0].Partitions[0].FetchOffset = 1 // partition 0 has one record now
		}
		got := make(chan *kmsg.FetchResponse, 1)
		go func() {
			r, _ := dpCall(t, e.b, req)
			fr, _ := r.(*kmsg.FetchResponse)
			got <- fr
		}()
		pp, _ := e.b.Partitions.Partition("lp", part)
		waitFor(t, "the fetch waits", func() bool { return pp.Watchers() > 0 })
		start := time.Now()
		dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{part: dpBatch(dpBatchSpec{})}))
		select {
		case fr := <-got:
			if fr == nil || len(fr.Topics[0].Partitions[part].RecordBatches) == 0 {
				t.Fatalf("woken fetch: %+v", fr)
			}
			if time.Since(start) > dpWait/2 {
				t.Fatal("woken late")
			}
		case <-time.After(dpWait):
			t.Fatal("long poll not woken by an append")
		}
	}

	// min_bytes above what is there: waits for more.
	req = fetchReq(12, tp, map[int32]int64{0: 0})
	big := len(dpBatch(dpBatchSpec{valueSize: 500}))
	req.MinBytes, req.MaxWaitMillis = int32(big), int32(dpWait/time.Millisecond)
	got := make(chan *kmsg.FetchResponse, 1)
	go func() {
		r, _ := dpCall(t, e.b, req)
		fr, _ := r.(*kmsg.FetchResponse)
		got <- fr
	}()
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{})}))
	select {
	case <-got:
		t.Fatal("answered below min_bytes")
	case <-time.After(50 * time.Millisecond):
	}
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{valueSize: 500})}))
	select {
	case fr := <-got:
		if n := len(fr.Topics[0].Partitions[0].RecordBatches); n < big {
			t.Fatalf("%d bytes, min %d", n, big)
		}
	case <-time.After(dpWait):
		t.Fatal("not answered at min_bytes")
	}

	// Deleting the topic wakes a waiting fetch, which answers an error.
	req = fetchReq(12, tp, map[int32]int64{1: 1})
	req.MaxWaitMillis = int32(dpWait / time.Millisecond)
	got = make(chan *kmsg.FetchResponse, 1)
	go func() {
		r, _ := dpCall(t, e.b, req)
		fr, _ := r.(*kmsg.FetchResponse)
		got <- fr
	}()
	lp1, _ := e.b.Partitions.Partition("lp", 1)
	waitFor(t, "the fetch waits", func() bool { return lp1.Watchers() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), dpWait)
	defer cancel()
	if err := e.b.Cluster.DeleteTopic(ctx, "lp"); err != nil {
		t.Fatal(err)
	}
	select {
	case fr := <-got:
		if fr.Topics[0].Partitions[0].ErrorCode == 0 {
			t.Fatalf("fetch of a deleted topic: %+v", fr.Topics[0].Partitions[0])
		}
	case <-time.After(dpWait):
		t.Fatal("deletion did not wake the fetch")
	}

	// A waiting fetch whose connection closes returns promptly.
	tp2 := e.topic("lp2", 1, nil, nil)
	req = fetchReq(12, tp2, map[int32]int64{0: 0})
	req.MaxWaitMillis = int32(dpWait / time.Millisecond)
	cctx, ccancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := dpCallCtx(cctx, t, e.b, req)
		errc <- err
	}()
	lp2, _ := e.b.Partitions.Partition("lp2", 0)
	waitFor(t, "the fetch waits", func() bool { return lp2.Watchers() > 0 })
	ccancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("no error after the connection closed")
		}
	case <-time.After(dpWait):
		t.Fatal("waiting fetch ignored its closed connection")
	}
}

func TestFetchFromFollowerReplica(t *testing.T) {
	e := newDPEnv(t, nil)
	b2 := e.startBroker(e.store.Node("b2"), 2, nil)
	waitFor(t, "broker 2 in broker 1's image", func() bool { return e.b.Cluster.Image().IsLive(2) })
	tp := e.topic("ff", 0, map[int32][]int32{0: {1, 2}}, nil)
	e.sync(b2)
	dpRoundTrip[*kmsg.ProduceResponse](t, e.b, produceReq(9, 1, tp, map[int32][]byte{0: dpBatch(dpBatchSpec{records: 2})}))
	// A consumer sees nothing: broker 2 is in the ISR and has not fetched.
	if p := dpRoundTrip[*kmsg.FetchResponse](t, e.b, fetchReq(12, tp, map[int32]int64{0: 0})).Topics[0].Partitions[0]; len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("consumer saw unreplicated data: %+v", p)
	}
	// Broker 2 fetches as a follower (v15: replica state), reads up to
	// the log end, then reports it has it all: the high watermark moves.
	for _, off := range []int64{0, 2} {
		req := fetchReq(15, tp, map[int32]int64{0: off})
		req.ReplicaState.ID, req.ReplicaState.Epoch = 2, 1
		p := dpRoundTrip[*kmsg.FetchResponse](t, e.b, req).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || off == 0 && len(p.RecordBatches) == 0 {
			t.Fatalf("follower fetch at %d: %+v", off, p)
		}
		if off == 2 && p.HighWatermark != 2 {
			t.Fatalf("high watermark %d after the follower caught up", p.HighWatermark)
		}
	}
	if p := dpRoundTrip[*kmsg.FetchResponse](t, e.b, fetchReq(12, tp, map[int32]int64{0: 0})).Topics[0].Partitions[0]; len(p.RecordBatches) == 0 {
		t.Fatal("consumer does not see replicated data")
	}
}

// BenchmarkFetchHandler: a consumer's Fetch (v12) of 1 MiB from a 64 MiB
// partition through the handler and response encoding into a reused
// buffer (request decoding excluded: the request is the same every time
// but its offset). The handler answers file slices; AppendResponse copies
// them in (one pread each), where a connection would sendfile them.
//
//	go test -run '^$' -bench Handler -benchmem ./core/protocol/
func BenchmarkFetchHandler(b *testing.B) {
	e := newDPEnv(b, nil)
	tp := e.topic("bench", 1, nil, nil)
	batch := dpBatch(dpBatchSpec{records: 16, valueSize: 1000})
	p, _ := e.b.Partitions.Partition("bench", 0)
	for range 4096 {
		binary.BigEndian.PutUint64(batch, 0)
		if _, err := p.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	end := p.HighWatermark()
	req := fetchReq(12, tp, map[int32]int64{0: 0})
	api, _ := Lookup(1)
	ctx := context.Background()
	out := make([]byte, 0, 2<<20)
	var total int64
	b.ReportAllocs()
	for b.Loop() {
		r := &Request{Header: wire.Header{Key: 1, Version: 12}, Body: req}
		resp, err := api.Handle(ctx, e.b, r)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if sr, ok := resp.(wire.SplicedResponse); ok {
			for _, c := range sr.Chunks() {
				n += int(c.Len())
			}
		} else {
			n = len(resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches)
		}
		out = wire.AppendResponse(out[:0], 1, resp) // copies the file slices in
		total += int64(n)
		next := req.Topics[0].Partitions[0].FetchOffset + int64(n/len(batch)*16)
		if next >= end {
			next = 0
		}
		req.Topics[0].Partitions[0].FetchOffset = next
	}
	b.SetBytes(total / int64(b.N))
}
