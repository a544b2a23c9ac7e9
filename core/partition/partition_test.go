package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func consumerFetch(offset int64) FetchParams {
	return FetchParams{Offset: offset, MaxBytes: 1 << 20, MinOneMessage: true, CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch, ReplicaID: ConsumerReplicaID}
}

func TestProduceFetch(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("orders", 2, nil)
	p := e.leader("orders", 1)
	if st := p.State(); st.LeaderEpoch != 0 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("state %+v", st)
	}

	var sent [][]byte
	for i := range 3 {
		b := makeBatch(plain(i + 1))
		sent = append(sent, slices.Clone(b))
		res := mustAppend(t, p, b)
		want := int64(i * (i + 1) / 2)
		if res.BaseOffset != want || res.LastOffset != want+int64(i) || res.LogAppendTime != -1 || res.LogStartOffset != 0 || res.Duplicate {
			t.Fatalf("append %d: %+v", i, res)
		}
	}
	if p.HighWatermark() != 6 || p.LogEndOffset() != 6 {
		t.Fatalf("hw %d leo %d, want 6", p.HighWatermark(), p.LogEndOffset())
	}

	got := fetchAll(t, p, 0)
	if offs := batchOffsets(got); !slices.Equal(offs, []int64{0, 1, 3}) {
		t.Fatalf("fetched batch offsets %v", offs)
	}
	// Stored verbatim except the base offset and the leader epoch.
	pos := 0
	for i, s := range sent {
		b := got[pos : pos+len(s)]
		if !bytes.Equal(b[16:], s[16:]) || binary.BigEndian.Uint32(b[12:]) != 0 {
			t.Fatalf("batch %d not stored verbatim", i)
		}
		pos += len(s)
	}

	// From inside a batch: the whole batch comes back.
	res, err := p.Fetch(nil, consumerFetch(4))
	if err != nil || !slices.Equal(batchOffsets(res.Records), []int64{3}) || res.HighWatermark != 6 || res.LastStableOffset != 6 || res.LogStartOffset != 0 {
		t.Fatalf("fetch at 4: %+v %v", res, err)
	}
	// At the end: nothing, no error.
	res, err = p.Fetch(nil, consumerFetch(6))
	if err != nil || len(res.Records) != 0 || res.HighWatermark != 6 {
		t.Fatalf("fetch at end: %+v %v", res, err)
	}
	// Past the end: out of range, offsets -1.
	res, err = p.Fetch(nil, consumerFetch(7))
	if !errors.Is(err, commitlog.ErrOffsetOutOfRange) || res.HighWatermark != -1 {
		t.Fatalf("fetch past end: %+v %v", res, err)
	}
	// MaxBytes without MinOneMessage drops a first batch that does not fit.
	f := consumerFetch(0)
	f.MaxBytes, f.MinOneMessage = 10, false
	res, err = p.Fetch(nil, f)
	if err != nil || len(res.Records) != 0 {
		t.Fatalf("fetch with 10 bytes: %d bytes, %v", len(res.Records), err)
	}
	f.MinOneMessage = true
	res, err = p.Fetch(nil, f)
	if err != nil || !slices.Equal(batchOffsets(res.Records), []int64{0}) {
		t.Fatalf("fetch with 10 bytes, min one: %v %v", batchOffsets(res.Records), err)
	}
	// Other partition is independent.
	if p0 := e.leader("orders", 0); p0.LogEndOffset() != 0 {
		t.Fatalf("partition 0 has data")
	}
}

func TestAppendValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("v", 1, map[string]string{topicconfig.MaxMessageBytes: "200"})
	p := e.leader("v", 0)
	two := append(makeBatch(plain(1)), makeBatch(plain(1))...)
	corrupt := makeBatch(plain(2))
	corrupt[len(corrupt)-1] ^= 0xff
	txn := makeBatch(batchSpec{producerID: 5, epoch: 0, seq: 0, attrs: commitlog.AttrTransactional})
	for _, tc := range []struct {
		name  string
		batch []byte
		acks  int16
		want  error
	}{
		{"acks 2", makeBatch(plain(1)), 2, ErrInvalidRequiredAcks},
		{"two batches", two, 1, commitlog.ErrInvalidRecord},
		{"crc", corrupt, 1, commitlog.ErrCorruptBatch},
		{"too large", makeBatch(batchSpec{producerID: -1, valueSize: 300}), 1, commitlog.ErrBatchTooLarge},
		{"empty", nil, 1, commitlog.ErrCorruptBatch},
		{"transactional", txn, 1, ErrTransactionsUnsupported},
	} {
		if _, err := p.Append(tc.batch, tc.acks); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("refused batches were appended: log end %d", p.LogEndOffset())
	}
}

func TestAcksAndMinInsync(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("a", 1, map[string]string{topicconfig.MinInsyncReplicas: "2"})
	p := e.leader("a", 0)
	if _, err := p.Append(makeBatch(plain(1)), -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=-1 with ISR 1 < min 2: %v", err)
	}
	// acks=1 and 0 are not bound by min.insync.replicas.
	for _, acks := range []int16{0, 1} {
		if _, err := p.Append(makeBatch(plain(1)), acks); err != nil {
			t.Fatalf("acks=%d: %v", acks, err)
		}
	}
	e.alterConfigs("a", map[string]string{topicconfig.MinInsyncReplicas: "1"})
	res, err := p.Produce(testCtx(t), makeBatch(plain(1)), -1, time.Second)
	if err != nil || res.BaseOffset != 2 {
		t.Fatalf("acks=-1: %+v %v", res, err)
	}
	if done, err := p.Acked(res); !done || err != nil {
		t.Fatalf("Acked: %v %v", done, err)
	}
}

func TestIdempotentProducer(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("idem", 1, nil)
	p := e.leader("idem", 0)
	const pid = 42

	// Six batches of two records: sequences 0-1, 2-3, ... 10-11.
	var results []ProduceResult
	for i := range 6 {
		results = append(results, mustAppend(t, p, makeBatch(idem(pid, 0, int32(2*i), 2))))
	}
	leo := p.LogEndOffset()

	// A retry of one of the last five batches: its original offsets, not
	// appended again.
	for i := 1; i < 6; i++ {
		res, err := p.Append(makeBatch(idem(pid, 0, int32(2*i), 2)), 1)
		if err != nil || !res.Duplicate || res.BaseOffset != results[i].BaseOffset || res.LastOffset != results[i].LastOffset {
			t.Fatalf("retry of batch %d: %+v %v, original %+v", i, res, err, results[i])
		}
	}
	if p.LogEndOffset() != leo {
		t.Fatalf("duplicates appended: %d -> %d", leo, p.LogEndOffset())
	}
	// The first batch fell out of the window: out of order.
	if _, err := p.Append(makeBatch(idem(pid, 0, 0, 2)), 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("old batch: %v", err)
	}
	// A gap.
	if _, err := p.Append(makeBatch(idem(pid, 0, 13, 1)), 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	// Same first sequence, different range: not a duplicate.
	if _, err := p.Append(makeBatch(idem(pid, 0, 10, 1)), 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("overlap: %v", err)
	}
	// In sequence.
	mustAppend(t, p, makeBatch(idem(pid, 0, 12, 1)))
	// A newer epoch must start at 0.
	if _, err := p.Append(makeBatch(idem(pid, 1, 13, 1)), 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at 13: %v", err)
	}
	mustAppend(t, p, makeBatch(idem(pid, 1, 0, 1)))
	// The old epoch is fenced.
	if _, err := p.Append(makeBatch(idem(pid, 0, 13, 1)), 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	// An unknown producer may start at any sequence (KIP-360).
	mustAppend(t, p, makeBatch(idem(7, 0, 500, 3)))
	mustAppend(t, p, makeBatch(idem(7, 0, 503, 1)))
	// Sequence wrap: MaxInt32 is followed by 0.
	mustAppend(t, p, makeBatch(idem(8, 0, math.MaxInt32-1, 2)))
	mustAppend(t, p, makeBatch(idem(8, 0, 0, 1)))
	// A batch that wraps inside.
	mustAppend(t, p, makeBatch(idem(9, 0, math.MaxInt32, 3)))
	mustAppend(t, p, makeBatch(idem(9, 0, 2, 1)))
	if n := p.NumProducers(); n != 4 {
		t.Fatalf("producers %d, want 4", n)
	}
}

func TestSequenceHelpers(t *testing.T) {
	for _, tc := range []struct {
		first, delta, want int32
	}{
		{0, 0, 0}, {0, 4, 4}, {math.MaxInt32, 0, math.MaxInt32}, {math.MaxInt32, 1, 0}, {math.MaxInt32 - 1, 3, 1},
	} {
		if got := lastSequence(tc.first, tc.delta); got != tc.want {
			t.Errorf("lastSequence(%d, %d) = %d, want %d", tc.first, tc.delta, got, tc.want)
		}
	}
	if !inSequence(4, 5) || !inSequence(math.MaxInt32, 0) || inSequence(4, 6) || inSequence(4, 4) || inSequence(math.MaxInt32-1, 0) {
		t.Fatal("inSequence")
	}
}

func TestConcurrentProducers(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("c", 1, nil)
	p := e.leader("c", 0)
	const producers, batches = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for w := range producers {
		wg.Go(func() {
			for i := range batches {
				b := makeBatch(idem(int64(100+w), 0, int32(i), 1))
				if _, err := p.Append(b, 1); err != nil {
					errs <- err
					return
				}
				// Every other batch is retried at once (a duplicate).
				if i%2 == 0 {
					res, err := p.Append(makeBatch(idem(int64(100+w), 0, int32(i), 1)), 1)
					if err != nil || !res.Duplicate {
						errs <- errors.New("retry not a duplicate")
						return
					}
				}
			}
		})
	}
	// A concurrent consumer sees a growing high watermark.
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last int64
		for last < producers*batches {
			hw := p.HighWatermark()
			if hw < last {
				errs <- errors.New("high watermark went back")
				return
			}
			last = hw
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(batchOffsets(fetchAll(t, p, 0))); got != producers*batches {
		t.Fatalf("%d batches, want %d", got, producers*batches)
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, snapshot := range []bool{true, false} {
		name := "rebuilt"
		if snapshot {
			name = "snapshot"
		}
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			dir := t.TempDir()
			e := newEnvOn(t, s, 1, dir, nil)
			e.createTopic("r", 1, nil)
			p := e.leader("r", 0)
			var res []ProduceResult
			for i := range 3 {
				res = append(res, mustAppend(t, p, makeBatch(idem(1, 3, int32(i), 1))))
			}
			mustAppend(t, p, makeBatch(plain(2)))
			pdir := p.Dir()
			if err := e.m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := e.cl.Close(); err != nil {
				t.Fatalf("cluster Close: %v", err)
			}
			if !snapshot {
				// As after a crash: no snapshot, the state comes from the log.
				if err := removeFile(pdir, snapshotFile); err != nil {
					t.Fatal(err)
				}
			}

			e2 := newEnvOn(t, s, 1, dir, nil)
			e2.sync()
			p2 := e2.leader("r", 0)
			if p2.HighWatermark() != 5 {
				t.Fatalf("high watermark after restart %d, want 5", p2.HighWatermark())
			}
			if _, err := readFile(pdir, snapshotFile); err == nil {
				t.Fatal("snapshot not removed after it was read")
			}
			dup, err := p2.Append(makeBatch(idem(1, 3, 2, 1)), 1)
			if err != nil || !dup.Duplicate || dup.BaseOffset != res[2].BaseOffset {
				t.Fatalf("retry after restart: %+v %v", dup, err)
			}
			if _, err := p2.Append(makeBatch(idem(1, 2, 3, 1)), 1); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("old epoch after restart: %v", err)
			}
			if _, err := p2.Append(makeBatch(idem(1, 3, 4, 1)), 1); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v", err)
			}
			mustAppend(t, p2, makeBatch(idem(1, 3, 3, 1)))
		})
	}
}

func TestListOffsets(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("l", 1, nil)
	p := e.leader("l", 0)
	q := func(ts int64) OffsetResult {
		t.Helper()
		r, err := p.ListOffset(ListOffsetParams{Timestamp: ts, CurrentLeaderEpoch: NoEpoch, ReplicaID: ConsumerReplicaID})
		if err != nil {
			t.Fatalf("ListOffset(%d): %v", ts, err)
		}
		return r
	}
	if r := q(TimestampLatest); r.Offset != 0 || r.LeaderEpoch != 0 || r.Timestamp != -1 {
		t.Fatalf("latest of empty: %+v", r)
	}
	if r := q(TimestampMax); r != noOffset {
		t.Fatalf("max of empty: %+v", r)
	}
	// Offsets 0-2 at 1000, 1010, 1020; 3-4 at 5000, 5001; 5 at 2000.
	mustAppend(t, p, makeBatch(batchSpec{producerID: -1, records: 3, timestamp: 1000, tsStep: 10}))
	mustAppend(t, p, makeBatch(batchSpec{producerID: -1, records: 2, timestamp: 5000, tsStep: 1}))
	mustAppend(t, p, makeBatch(batchSpec{producerID: -1, records: 1, timestamp: 2000}))
	for _, tc := range []struct {
		ts   int64
		want OffsetResult
	}{
		{TimestampEarliest, OffsetResult{0, -1, 0}},
		{TimestampEarliestLocal, OffsetResult{0, -1, 0}},
		{TimestampLatest, OffsetResult{6, -1, 0}},
		{TimestampMax, OffsetResult{4, 5001, 0}},
		{TimestampLatestTiered, noOffset},
		{TimestampEarliestPendingUpload, noOffset},
		{0, OffsetResult{0, 1000, 0}},
		{1005, OffsetResult{1, 1010, 0}},
		{1020, OffsetResult{2, 1020, 0}},
		{1021, OffsetResult{3, 5000, 0}},
		{5001, OffsetResult{4, 5001, 0}},
		{5002, noOffset},
	} {
		if got := q(tc.ts); got != tc.want {
			t.Errorf("ListOffset(%d) = %+v, want %+v", tc.ts, got, tc.want)
		}
	}
	if _, err := p.ListOffset(ListOffsetParams{Timestamp: -7, CurrentLeaderEpoch: NoEpoch, ReplicaID: ConsumerReplicaID}); err == nil {
		t.Fatal("timestamp -7 accepted")
	}
}

func TestDeleteRecords(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	e := newEnvOn(t, s, 1, dir, func(c *Config) { c.TopicDefaults.SegmentBytes = 200 })
	e.createTopic("d", 1, nil)
	p := e.leader("d", 0)
	for range 10 {
		mustAppend(t, p, makeBatch(plain(2)))
	}
	segs := p.log.NumSegments()
	if segs < 3 {
		t.Fatalf("%d segments", segs)
	}
	if _, err := p.DeleteRecordsBefore(21); !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
		t.Fatalf("past the high watermark: %v", err)
	}
	if _, err := p.DeleteRecordsBefore(-2); !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
		t.Fatalf("negative: %v", err)
	}
	lso, err := p.DeleteRecordsBefore(7)
	if err != nil || lso != 7 || p.LogStartOffset() != 7 {
		t.Fatalf("delete before 7: %d %v", lso, err)
	}
	if p.log.NumSegments() >= segs {
		t.Fatalf("no segment deleted: %d", p.log.NumSegments())
	}
	if lso, err := p.DeleteRecordsBefore(3); err != nil || lso != 7 {
		t.Fatalf("delete before 3 after 7: %d %v", lso, err)
	}
	if _, err := p.Fetch(nil, consumerFetch(6)); !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
		t.Fatalf("fetch below the start: %v", err)
	}
	if r, _ := p.ListOffset(ListOffsetParams{Timestamp: TimestampEarliest, CurrentLeaderEpoch: NoEpoch, ReplicaID: ConsumerReplicaID}); r.Offset != 7 {
		t.Fatalf("earliest %+v", r)
	}
	if lso, err := p.DeleteRecordsBefore(-1); err != nil || lso != 20 {
		t.Fatalf("delete up to the high watermark: %d %v", lso, err)
	}
	// Survives a restart.
	e.m.Close()
	e.cl.Close()
	e2 := newEnvOn(t, s, 1, dir, nil)
	e2.sync()
	if p2 := e2.leader("d", 0); p2.LogStartOffset() != 20 || p2.LogEndOffset() != 20 {
		t.Fatalf("after restart: start %d end %d", p2.LogStartOffset(), p2.LogEndOffset())
	}
}

func TestLeaderEpochsAndFollower(t *testing.T) {
	s := newStore(t)
	e := newEnvOn(t, s, 1, t.TempDir(), nil)
	startCluster(t, s.Node("b2"), 2) // broker 2: registered, no data
	e.waitBroker(2)
	top, err := e.cl.CreateTopic(testCtx(t), "e", -1, -1, map[int32][]int32{0: {1, 2}}, nil)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	e.sync()
	p, ok := e.m.Partition("e", 0)
	if !ok {
		t.Fatal("not hosted")
	}
	st := p.State()
	if !st.Leader || st.LeaderEpoch != 0 || len(st.ISR) != 2 {
		t.Fatalf("state %+v", st)
	}
	ctx := testCtx(t)
	alter := func(leader int32, isr []int32) {
		t.Helper()
		part, _ := e.cl.Image().Partition("e", 0)
		if _, err := s.AlterPartition(ctx, metadata.PartitionChange{Topic: "e", Partition: 0, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: leader, ISR: isr}); err != nil {
			t.Fatalf("AlterPartition: %v", err)
		}
		eventually(t, "image has the change", func() bool {
			np, _ := e.cl.Image().Partition("e", 0)
			return np.PartitionEpoch > part.PartitionEpoch
		})
		e.sync()
	}
	_ = top

	// ISR {1, 2}: broker 2 has not fetched, so the high watermark stays.
	res := mustAppend(t, p, makeBatch(plain(3)))
	if p.HighWatermark() != 0 {
		t.Fatalf("high watermark %d with an ISR member that never fetched", p.HighWatermark())
	}
	if got, _ := p.Fetch(nil, consumerFetch(0)); len(got.Records) != 0 {
		t.Fatal("consumer saw unreplicated data")
	}
	// acks=-1 waits for the follower; its fetch moves the high watermark.
	ackErr := make(chan error, 1)
	go func() { ackErr <- p.WaitAcked(ctx, res) }()
	f := FetchParams{Offset: 0, MaxBytes: 1 << 20, MinOneMessage: true, CurrentLeaderEpoch: 0, LastFetchedEpoch: NoEpoch, ReplicaID: 2}
	if r, err := p.Fetch(nil, f); err != nil || len(batchOffsets(r.Records)) != 1 || r.HighWatermark != 0 {
		t.Fatalf("follower fetch: %+v %v", r, err)
	}
	select {
	case err := <-ackErr:
		t.Fatalf("acked before replication: %v", err)
	default:
	}
	f.Offset = 3 // the follower now has everything
	if r, err := p.Fetch(nil, f); err != nil || r.HighWatermark != 3 {
		t.Fatalf("second follower fetch: %+v %v", r, err)
	}
	if err := <-ackErr; err != nil {
		t.Fatalf("WaitAcked: %v", err)
	}
	// A fetch from a broker that is not a replica is refused.
	f.ReplicaID = 3
	if _, err := p.Fetch(nil, f); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fetch from non-replica: %v", err)
	}

	// Shrink the ISR to {1} (partition epoch only, same leader epoch).
	alter(1, []int32{1})
	if st := p.State(); !st.Leader || st.LeaderEpoch != 0 || len(st.ISR) != 1 {
		t.Fatalf("after ISR shrink %+v", st)
	}
	mustAppend(t, p, makeBatch(plain(1)))
	if p.HighWatermark() != 4 {
		t.Fatalf("high watermark %d, want 4", p.HighWatermark())
	}

	// Move leadership to broker 2: epoch 1, this broker follows.
	alter(2, []int32{1, 2})
	st = p.State()
	if st.Leader || st.LeaderID != 2 || st.LeaderEpoch != 1 {
		t.Fatalf("after move %+v", st)
	}
	if _, err := p.Append(makeBatch(plain(1)), 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("produce to follower: %v", err)
	}
	for _, tc := range []struct {
		epoch int32
		want  error
	}{{0, ErrFencedLeaderEpoch}, {2, ErrUnknownLeaderEpoch}, {1, ErrNotLeader}, {NoEpoch, ErrNotLeader}} {
		fp := consumerFetch(0)
		fp.CurrentLeaderEpoch = tc.epoch
		if _, err := p.Fetch(nil, fp); !errors.Is(err, tc.want) {
			t.Errorf("fetch with epoch %d: %v, want %v", tc.epoch, err, tc.want)
		}
		if _, err := p.ListOffset(ListOffsetParams{Timestamp: TimestampLatest, CurrentLeaderEpoch: tc.epoch, ReplicaID: ConsumerReplicaID}); !errors.Is(err, tc.want) {
			t.Errorf("list offsets with epoch %d: %v, want %v", tc.epoch, err, tc.want)
		}
		if _, _, err := p.EndOffsetForEpoch(tc.epoch, 0); !errors.Is(err, tc.want) {
			t.Errorf("offset for leader epoch with epoch %d: %v, want %v", tc.epoch, err, tc.want)
		}
	}
	// The debugging replica id reads a follower.
	if r, err := p.ListOffset(ListOffsetParams{Timestamp: TimestampLatest, CurrentLeaderEpoch: NoEpoch, ReplicaID: DebuggingReplicaID}); err != nil || r.Offset != 4 {
		t.Fatalf("debug list offsets on follower: %+v %v", r, err)
	}

	// Back to broker 1 at epoch 2: the epoch counts before any append.
	alter(1, []int32{1})
	st = p.State()
	if !st.Leader || st.LeaderEpoch != 2 {
		t.Fatalf("back %+v", st)
	}
	for _, tc := range []struct {
		ask       int32
		wantEpoch int32
		wantEnd   int64
	}{{0, 0, 4}, {1, 0, 4}, {2, 2, 4}, {3, -1, -1}} {
		ep, end, err := p.EndOffsetForEpoch(2, tc.ask)
		if err != nil || ep != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d, %v; want %d, %d", tc.ask, ep, end, err, tc.wantEpoch, tc.wantEnd)
		}
	}
	res = mustAppend(t, p, makeBatch(plain(2)))
	if res.LeaderEpoch != 2 {
		t.Fatalf("appended in epoch %d", res.LeaderEpoch)
	}
	entries := p.log.EpochEntries()
	if !slices.Equal(entries, []commitlog.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 4}}) {
		t.Fatalf("epoch checkpoint %v", entries)
	}
	if ep, end, _ := p.EndOffsetForEpoch(NoEpoch, 2); ep != 2 || end != 6 {
		t.Fatalf("EndOffsetForEpoch(2) = %d, %d", ep, end)
	}
	// A fetcher whose last epoch diverges is told where to truncate.
	fp := consumerFetch(5)
	fp.LastFetchedEpoch = 1
	r, err := p.Fetch(nil, fp)
	if err != nil || !r.Diverging || r.DivergingEpoch != 0 || r.DivergingEndOffset != 4 || len(r.Records) != 0 {
		t.Fatalf("diverging fetch: %+v %v", r, err)
	}
	fp = consumerFetch(4)
	fp.LastFetchedEpoch = 0
	if r, err := p.Fetch(nil, fp); err != nil || r.Diverging || len(r.Records) == 0 {
		t.Fatalf("non-diverging fetch: %+v %v", r, err)
	}
}

func TestAckWaitEndsWhenLeadershipMoves(t *testing.T) {
	s := newStore(t)
	e := newEnvOn(t, s, 1, t.TempDir(), nil)
	startCluster(t, s.Node("b2"), 2)
	e.waitBroker(2)
	if _, err := e.cl.CreateTopic(testCtx(t), "m", -1, -1, map[int32][]int32{0: {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	e.sync()
	p, _ := e.m.Partition("m", 0)
	res := mustAppend(t, p, makeBatch(plain(1)))
	ctx := testCtx(t)
	ackErr := make(chan error, 1)
	go func() { ackErr <- p.WaitAcked(ctx, res) }()
	part, _ := e.cl.Image().Partition("m", 0)
	if _, err := s.AlterPartition(ctx, metadata.PartitionChange{Topic: "m", Partition: 0, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: 2, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if err := <-ackErr; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("WaitAcked after losing leadership: %v", err)
	}
	// A short timeout ends with ErrTimeout.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	res.LeaderEpoch = 1
	if err := p.WaitAcked(tctx, ProduceResult{LastOffset: 0, LeaderEpoch: p.State().LeaderEpoch}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("WaitAcked on follower: %v", err)
	}
}

func TestWaiter(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("w", 2, nil)
	p0, p1 := e.leader("w", 0), e.leader("w", 1)
	w := NewWaiter()
	defer w.Stop()
	w.Watch(p0)
	w.Watch(p1)
	w.Watch(p1) // twice counts once
	if p0.Watchers() != 1 || p1.Watchers() != 1 {
		t.Fatalf("watchers %d %d", p0.Watchers(), p1.Watchers())
	}
	select {
	case <-w.C():
		t.Fatal("woken without a change")
	default:
	}
	mustAppend(t, p1, makeBatch(plain(1)))
	select {
	case <-w.C():
	case <-time.After(waitTimeout):
		t.Fatal("not woken by an append")
	}
	w.Stop()
	if p0.Watchers() != 0 || p1.Watchers() != 0 {
		t.Fatalf("watchers after Stop %d %d", p0.Watchers(), p1.Watchers())
	}
	mustAppend(t, p0, makeBatch(plain(1)))
	select {
	case <-w.C():
		t.Fatal("woken after Stop")
	default:
	}
	// Deleting the topic wakes a watcher.
	w2 := NewWaiter()
	defer w2.Stop()
	w2.Watch(p0)
	if err := e.cl.DeleteTopic(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w2.C():
	case <-time.After(waitTimeout):
		t.Fatal("not woken by the deletion")
	}
	// Watching a closed partition wakes at once.
	e.sync()
	w3 := NewWaiter()
	defer w3.Stop()
	w3.Watch(p0)
	select {
	case <-w3.C():
	default:
		t.Fatal("watching a closed partition did not wake")
	}
}
