package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestRetentionAndConfigChanges(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	e.createTopic("ret", 1, map[string]string{topicconfig.SegmentBytes: "1000"})
	p := e.leader("ret", 0)
	if got := p.log.Config().SegmentBytes; got != 1000 {
		t.Fatalf("segment.bytes %d, want 1000", got)
	}
	now := time.Now().UnixMilli() // recent: retention.ms (7 days) keeps them
	for range 20 {
		mustAppend(t, p, makeBatch(batchSpec{producerID: -1, valueSize: 200, timestamp: now}))
	}
	if p.log.NumSegments() < 5 {
		t.Fatalf("%d segments", p.log.NumSegments())
	}
	// retention.bytes applied from the image; the next check deletes.
	e.alterConfigs("ret", map[string]string{topicconfig.SegmentBytes: "1000", topicconfig.RetentionBytes: "1500"})
	if got := p.log.Config().RetentionBytes; got != 1500 {
		t.Fatalf("retention.bytes %d", got)
	}
	eventually(t, "retention by size", func() bool { return p.LogStartOffset() > 0 && p.Size() <= 1500+1000 })
	// retention.ms: everything older than 1 ms goes, except the active
	// segment.
	e.alterConfigs("ret", map[string]string{topicconfig.SegmentBytes: "1000", topicconfig.RetentionMs: "1"})
	eventually(t, "retention by time", func() bool { return p.log.NumSegments() == 1 })
	if p.LogStartOffset() == 0 || p.HighWatermark() != 20 {
		t.Fatalf("start %d hw %d", p.LogStartOffset(), p.HighWatermark())
	}

	// max.message.bytes and message.timestamp.type.
	e.alterConfigs("ret", map[string]string{topicconfig.MaxMessageBytes: "150", topicconfig.MessageTimestampType: "LogAppendTime"})
	if _, err := p.Append(makeBatch(batchSpec{producerID: -1, valueSize: 200}), 1); !errors.Is(err, commitlog.ErrBatchTooLarge) {
		t.Fatalf("batch above max.message.bytes: %v", err)
	}
	before := time.Now().UnixMilli()
	res := mustAppend(t, p, makeBatch(plain(1)))
	if res.LogAppendTime < before {
		t.Fatalf("LogAppendTime %d, want >= %d", res.LogAppendTime, before)
	}
	fr, err := p.Fetch(nil, consumerFetch(res.BaseOffset))
	if err != nil || len(fr.Records) == 0 {
		t.Fatalf("fetch: %v", err)
	}
	attrs := binary.BigEndian.Uint16(fr.Records[21:])
	if attrs&commitlog.AttrLogAppendTime == 0 || int64(binary.BigEndian.Uint64(fr.Records[35:])) != res.LogAppendTime {
		t.Fatal("stored batch is not LogAppendTime")
	}
	// Back to the broker defaults when the configs go.
	e.alterConfigs("ret", nil)
	if st := p.State(); st.Config != e.cfg.Resolve(e.cfg.TopicDefaults) || p.log.Config() != e.cfg.Log {
		t.Fatalf("defaults not restored: %+v", st.Config)
	}
}

func TestCreateTimeMaxTimestampCorrected(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("ts", 1, nil)
	p := e.leader("ts", 0)
	b := makeBatch(batchSpec{producerID: -1, records: 3, timestamp: 1000, tsStep: 5})
	// A producer that wrote a wrong max timestamp (with a valid CRC).
	binary.BigEndian.PutUint64(b[35:], 1)
	binary.BigEndian.PutUint32(b[17:], commitlog.ComputeCRC(b))
	mustAppend(t, p, b)
	fr, _ := p.Fetch(nil, consumerFetch(0))
	if got := int64(binary.BigEndian.Uint64(fr.Records[35:])); got != 1010 {
		t.Fatalf("stored max timestamp %d, want 1010", got)
	}
	if !commitlog.CRCValid(fr.Records) {
		t.Fatal("stored CRC invalid")
	}
}

func TestTopicDeleteAndRecreate(t *testing.T) {
	e := newEnv(t, nil)
	first := e.createTopic("gone", 2, nil)
	p := e.leader("gone", 0)
	for range 3 {
		mustAppend(t, p, makeBatch(plain(1)))
	}
	dir := p.Dir()
	ctx := testCtx(t)
	if err := e.cl.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if _, ok := e.m.Partition("gone", 0); ok {
		t.Fatal("deleted partition still hosted")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	if _, err := p.Append(makeBatch(plain(1)), 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append to a deleted partition: %v", err)
	}
	second := e.createTopic("gone", 1, nil)
	if second.ID == first.ID {
		t.Fatal("same topic id")
	}
	p2 := e.leader("gone", 0)
	if p2.LogEndOffset() != 0 || p2.TopicID() != second.ID {
		t.Fatalf("re-created topic reused data: end %d", p2.LogEndOffset())
	}
	meta, ok, err := readMeta(p2.Dir())
	if err != nil || !ok || meta.TopicID != second.ID || meta.Topic != "gone" || meta.Partition != 0 {
		t.Fatalf("meta %+v %v %v", meta, ok, err)
	}
	if len(e.m.Partitions()) != 1 {
		t.Fatalf("partitions %d", len(e.m.Partitions()))
	}
}

func TestRecreatedWhileDown(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	e := newEnvOn(t, s, 1, dir, nil)
	old := e.createTopic("x", 1, nil)
	mustAppend(t, e.leader("x", 0), makeBatch(plain(5)))
	e.createTopic("keep", 1, nil)
	mustAppend(t, e.leader("keep", 0), makeBatch(plain(2)))
	e.m.Close()
	// While the Manager is down: "x" deleted and re-created, and a
	// directory of a topic the metadata never had appears.
	ctx := testCtx(t)
	if err := e.cl.DeleteTopic(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.CreateTopic(ctx, "x", 1, 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, "unknown-0")
	if err := os.MkdirAll(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(stray, metaFile, partitionMeta{Topic: "unknown", TopicID: metadata.TopicID{9}}.encode()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x-0.0011223344556677-delete", "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.cl.Close()

	e2 := newEnvOn(t, s, 1, dir, nil)
	e2.sync()
	p := e2.leader("x", 0)
	if p.LogEndOffset() != 0 || p.TopicID() == old.ID {
		t.Fatalf("re-created topic has old data: end %d", p.LogEndOffset())
	}
	if e2.leader("keep", 0).LogEndOffset() != 2 {
		t.Fatal("kept topic lost data")
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatalf("unknown topic's directory removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x-0.0011223344556677-delete")); !os.IsNotExist(err) {
		t.Fatalf("deletion leftover not removed: %v", err)
	}
}

func TestReassignedAwayIsDeleted(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	e := newEnvOn(t, s, 1, dir, nil)
	startCluster(t, s.Node("b2"), 2)
	e.waitBroker(2)
	if _, err := e.cl.CreateTopic(testCtx(t), "mv", -1, -1, map[int32][]int32{0: {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	e.sync()
	p, ok := e.m.Partition("mv", 0)
	if !ok {
		t.Fatal("not hosted")
	}
	part, _ := e.cl.Image().Partition("mv", 0)
	if _, err := s.AlterPartition(testCtx(t), metadata.PartitionChange{Topic: "mv", Partition: 0, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: 2, ISR: []int32{2}, Replicas: []int32{2}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "partition removed from broker 1", func() bool {
		_, ok := e.m.Partition("mv", 0)
		return !ok
	})
	eventually(t, "directory of the reassigned partition deleted", func() bool {
		_, err := os.Stat(p.Dir())
		return os.IsNotExist(err)
	})
}

func TestCreatePartitionsOpensNew(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("grow", 1, nil)
	if _, err := e.cl.CreatePartitions(testCtx(t), "grow", 3, nil); err != nil {
		t.Fatal(err)
	}
	e.sync()
	for i := range int32(3) {
		e.leader("grow", i)
	}
}

// failingAllocator counts calls and can fail.
type countingAllocator struct {
	mu    sync.Mutex
	next  int64
	calls int
	fail  error
}

func (a *countingAllocator) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail != nil {
		return 0, a.fail
	}
	first := a.next
	a.next += int64(n)
	return first, nil
}

func TestProducerIDs(t *testing.T) {
	s := newStore(t)
	cl := startCluster(t, s, 1)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ProducerIDBlockSize = 3
	m1, err := New(cfg, cl, s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	cfg.DataDir = t.TempDir()
	m2, err := New(cfg, cl, s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ctx := testCtx(t)
	seen := map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range []*Manager{m1, m2, m1, m2} {
		wg.Go(func() {
			for range 10 {
				id, err := m.NewProducerID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("producer id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Fatalf("%d ids", len(seen))
	}
	eventually(t, "backend counter past every id", func() bool { return cl.Image().NextProducerID() >= 40 })

	// Blocks: one backend call per ProducerIDBlockSize ids; failures are
	// ErrProducerIDs and nothing is lost.
	a := &countingAllocator{}
	cfg.DataDir = t.TempDir()
	m3, err := New(cfg, cl, a, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	for i := range 7 {
		id, err := m3.NewProducerID(ctx)
		if err != nil || id != int64(i) {
			t.Fatalf("id %d: %d %v", i, id, err)
		}
	}
	if a.calls != 3 {
		t.Fatalf("%d backend calls for 7 ids in blocks of 3", a.calls)
	}
	a.fail = metadata.ErrUnavailable
	for i := 7; i < 9; i++ {
		if id, err := m3.NewProducerID(ctx); err != nil || id != int64(i) {
			t.Fatalf("id %d from the block: %d %v", i, id, err)
		}
	}
	if _, err := m3.NewProducerID(ctx); !errors.Is(err, ErrProducerIDs) || !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("failing backend: %v", err)
	}
	a.fail = nil
	if id, err := m3.NewProducerID(ctx); err != nil || id != 9 {
		t.Fatalf("after recovery: %d %v", id, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	m3.pidSem <- struct{}{} // a block allocation in progress
	m3.pidNext = m3.pidEnd
	if _, err := m3.NewProducerID(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	<-m3.pidSem
	m3.Close()
	if _, err := m3.NewProducerID(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestManagerLifecycle(t *testing.T) {
	s := newStore(t)
	cl := startCluster(t, s, 1)
	cfg := DefaultConfig()
	for _, bad := range []func(*Config){
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.TopicDefaults.MaxMessageBytes = -1 },
		func(c *Config) { c.TopicDefaults.MinInsyncReplicas = 0 },
		func(c *Config) { c.RetentionCheckInterval = 0 },
		func(c *Config) { c.MaxFetchBytes = -1 },
		func(c *Config) { c.ProducerIDBlockSize = 0 },
		func(c *Config) { c.ProducerIDExpiration = 0 },
		func(c *Config) { c.Log.IndexIntervalBytes = -1 },
	} {
		c := cfg
		c.DataDir = t.TempDir()
		bad(&c)
		if _, err := New(c, cl, s, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("bad config accepted: %v", err)
		}
	}
	if _, err := New(Config{}, nil, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero config: %v", err)
	}
	cfg.DataDir = t.TempDir()
	m, err := New(cfg, cl, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Close before Start, twice; Start after Close.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := m.WaitRevision(testCtx(t), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitRevision after Close: %v", err)
	}

	e := newEnv(t, nil)
	e.createTopic("life", 1, nil)
	if err := e.m.Start(); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if err := e.m.WaitRevision(ctx, e.m.AppliedRevision()+100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitRevision canceled: %v", err)
	}
	p := e.leader("life", 0)
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.m.Partition("life", 0); ok {
		t.Fatal("partition still hosted after Close")
	}
	if _, err := p.Append(makeBatch(plain(1)), 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append after Close: %v", err)
	}
	if _, err := p.Fetch(nil, consumerFetch(0)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fetch after Close: %v", err)
	}
	if hw, ok := readHW(p.Dir()); !ok || hw != 0 {
		t.Fatalf("high watermark checkpoint %d %v", hw, ok)
	}
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	e := newEnvOn(t, s, 1, dir, func(c *Config) { c.RetentionCheckInterval = 10 * time.Millisecond })
	e.createTopic("hw", 1, nil)
	p := e.leader("hw", 0)
	mustAppend(t, p, makeBatch(plain(4)))
	eventually(t, "high watermark checkpointed", func() bool {
		hw, ok := readHW(p.Dir())
		return ok && hw == 4
	})
}

func TestResolveTopicConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Log.Flush = commitlog.FlushAlways
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.Resolve(cfg.TopicDefaults)
	want := commitlog.DefaultConfig()
	want.Flush = commitlog.FlushAlways
	if d.Log != want || d.MaxMessageBytes != 1048588 || d.LogAppendTime || d.MinInsyncReplicas != 1 {
		t.Fatalf("defaults %+v", d)
	}
	vals, err := topicconfig.Resolve(map[string]string{
		topicconfig.RetentionMs: "-1", topicconfig.RetentionBytes: "5000", topicconfig.SegmentBytes: "14",
		topicconfig.SegmentMs: "60000", topicconfig.MaxMessageBytes: "0", topicconfig.MessageTimestampType: "LogAppendTime",
		topicconfig.MinInsyncReplicas: "2",
	}, cfg.TopicDefaults)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Resolve(vals)
	if got.Log.RetentionMs >= 0 || got.Log.RetentionBytes != 5000 || got.Log.SegmentBytes != commitlog.MinSegmentBytes ||
		got.Log.SegmentMs != time.Minute || got.Log.Flush != commitlog.FlushAlways || got.MaxMessageBytes != 1 || !got.LogAppendTime || got.MinInsyncReplicas != 2 {
		t.Fatalf("resolved %+v", got)
	}
	if err := got.Log.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.TopicDefaults.MinInsyncReplicas = 0
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad defaults: %v", err)
	}
	bad = cfg
	bad.Log.Flush = commitlog.FlushInterval
	bad.Log.FlushInterval = 0
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad log config: %v", err)
	}
}

func TestInvalidTopicConfigKeepsPrevious(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("bad", 1, map[string]string{topicconfig.MaxMessageBytes: "500"})
	p := e.leader("bad", 0)
	// Written behind the validation's back (an older or foreign writer).
	e.alterConfigs("bad", map[string]string{topicconfig.MaxMessageBytes: "100", "no.such.config": "1"})
	if got := p.State().Config.MaxMessageBytes; got != 500 {
		t.Fatalf("max.message.bytes %d, want the previous 500", got)
	}
}

func TestFileCodecs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topic string
		part  int32
		ok    bool
	}{
		{"orders-0", "orders", 0, true},
		{"a-b-12", "a-b", 12, true},
		{"x-delete-3", "x-delete", 3, true},
		{"orders-0.00aa-delete", "", 0, false},
		{"orders", "", 0, false},
		{"-1", "", 0, false},
		{"t-01", "", 0, false},
		{"t--1", "t-", 1, true},
	} {
		topic, part, ok := parseDirName(tc.name)
		if ok != tc.ok || ok && (topic != tc.topic || part != tc.part) {
			t.Errorf("parseDirName(%q) = %q, %d, %v", tc.name, topic, part, ok)
		}
		if ok && dirName(topic, part) != tc.name {
			t.Errorf("dirName round trip of %q", tc.name)
		}
	}

	m := partitionMeta{Topic: "t.x", Partition: 7, TopicID: metadata.TopicID{1, 2, 3, 15: 16}}
	got, err := decodeMeta(m.encode())
	if err != nil || got != m {
		t.Fatalf("meta round trip %+v %v", got, err)
	}
	for _, bad := range []string{"", "version: 2\n", "version: 1\ntopic: a\npartition: 0\n", "version: 1\ntopic: a\npartition: x\ntopic_id: 00\n", "junk\n"} {
		if _, err := decodeMeta([]byte(bad)); err == nil {
			t.Errorf("decodeMeta(%q) accepted", bad)
		}
	}

	if hw, err := decodeHW(encodeHW(12345)); err != nil || hw != 12345 {
		t.Fatalf("hw round trip %d %v", hw, err)
	}
	b := encodeHW(1)
	b[9] ^= 1
	if _, err := decodeHW(b); err == nil {
		t.Fatal("damaged hw checkpoint accepted")
	}

	ps := newProducers()
	for i := range 7 {
		e := ps.lock(int64(i % 3))
		e.record(int16(i/3), batchMeta{firstSeq: int32(i), lastSeq: int32(i), firstOffset: int64(10 * i), lastOffset: int64(10*i + 1), timestamp: int64(i)})
		e.mu.Unlock()
	}
	ps.lock(99).mu.Unlock() // an entry with no batch is not written
	snap := ps.encodeSnapshot(77)
	back, end, err := decodeSnapshot(snap)
	if err != nil || end != 77 || len(back.m) != 3 {
		t.Fatalf("snapshot round trip: %d entries, end %d, %v", len(back.m), end, err)
	}
	for id, e := range back.m {
		o := ps.m[id]
		if e.epoch != o.epoch || e.n != o.n || e.last() != o.last() {
			t.Errorf("producer %d: %+v vs %+v", id, e, o)
		}
	}
	for i := range snap {
		c := slices.Clone(snap)
		c[i] ^= 0x40
		if _, _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("snapshot with byte %d flipped accepted", i)
		}
	}
	if _, _, err := decodeSnapshot(snap[:len(snap)-5]); err == nil {
		t.Fatal("short snapshot accepted")
	}
}

func TestDamagedMetaRefusesToOpen(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	e := newEnvOn(t, s, 1, dir, func(c *Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	// A directory with a damaged metadata file where the topic will be.
	pdir := filepath.Join(dir, "dm-0")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, metaFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.createTopic("dm", 1, nil)
	if _, ok := e.m.Partition("dm", 0); ok {
		t.Fatal("opened a partition with damaged metadata")
	}
	// Repaired by an operator: the retry opens it.
	if err := os.Remove(filepath.Join(pdir, metaFile)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "retried open", func() bool {
		_, ok := e.m.Partition("dm", 0)
		return ok
	})
	if meta, ok, err := readMeta(pdir); !ok || err != nil || !strings.EqualFold(meta.Topic, "dm") {
		t.Fatalf("meta after adopt %+v %v %v", meta, ok, err)
	}
}

func TestProducerExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RetentionCheckInterval = 10 * time.Millisecond
		c.ProducerIDExpiration = time.Hour
	})
	e.createTopic("exp", 1, nil)
	p := e.leader("exp", 0)
	now := time.Now().UnixMilli()
	mustAppend(t, p, makeBatch(batchSpec{producerID: 1, epoch: 0, seq: 0, timestamp: now}))
	mustAppend(t, p, makeBatch(batchSpec{producerID: 2, epoch: 0, seq: 0, timestamp: now - 2*time.Hour.Milliseconds()}))
	eventually(t, "idle producer expired", func() bool { return p.NumProducers() == 1 })
	// The expired producer is unknown again: any sequence is accepted.
	mustAppend(t, p, makeBatch(batchSpec{producerID: 2, epoch: 0, seq: 40, timestamp: now}))
	// Producers whose batches retention removed are forgotten too.
	if _, err := p.DeleteRecordsBefore(-1); err != nil {
		t.Fatal(err)
	}
	if n := p.NumProducers(); n != 0 {
		t.Fatalf("%d producers after deleting every record", n)
	}
}
