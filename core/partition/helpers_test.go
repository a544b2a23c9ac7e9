package partition

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// env is one broker: a memory metadata store, a real Cluster over it and a
// Manager over a temporary data directory.
type env struct {
	t     testing.TB
	store *memory.Store
	cl    *cluster.Cluster
	m     *Manager
	cfg   Config
}

// newStore returns a memory store closed at cleanup.
func newStore(t testing.TB) *memory.Store {
	t.Helper()
	s, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startCluster starts a registered Cluster for broker id over b.
func startCluster(t testing.TB, b metadata.Backend, id int32) *cluster.Cluster {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.BrokerID = id
	cfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxRetryBackoff = 100 * time.Millisecond
	cfg.CallTimeout = 2 * time.Second
	cfg.ShutdownTimeout = time.Second
	c, err := cluster.New(cfg, b, testLogger(t))
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(); err != nil {
		t.Fatalf("cluster Start: %v", err)
	}
	if err := c.WaitReady(testCtx(t)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return c
}

// newEnv starts broker 1 with a Manager; tweak adjusts its Config.
func newEnv(t testing.TB, tweak func(*Config)) *env {
	t.Helper()
	s := newStore(t)
	return newEnvOn(t, s, 1, t.TempDir(), tweak)
}

// newEnvOn starts broker id over store s with data in dir.
func newEnvOn(t testing.TB, s *memory.Store, id int32, dir string, tweak func(*Config)) *env {
	t.Helper()
	cl := startCluster(t, s, id)
	cfg := DefaultConfig()
	cfg.DataDir = dir
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg, cl, s, testLogger(t))
	if err != nil {
		t.Fatalf("partition.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return &env{t: t, store: s, cl: cl, m: m, cfg: cfg}
}

// sync waits until the Manager applied the Cluster's current image.
func (e *env) sync() {
	e.t.Helper()
	if err := e.m.WaitRevision(testCtx(e.t), e.cl.Image().Revision()); err != nil {
		e.t.Fatalf("WaitRevision: %v", err)
	}
}

// waitBroker waits until broker id is live in this broker's image.
func (e *env) waitBroker(id int32) {
	e.t.Helper()
	eventually(e.t, "broker live in the image", func() bool { return e.cl.Image().IsLive(id) })
}

// createTopic creates a topic with replication factor 1 and waits until
// the Manager hosts it.
func (e *env) createTopic(name string, partitions int32, configs map[string]string) metadata.Topic {
	e.t.Helper()
	top, err := e.cl.CreateTopic(testCtx(e.t), name, partitions, 1, nil, configs)
	if err != nil {
		e.t.Fatalf("CreateTopic %s: %v", name, err)
	}
	e.sync()
	return top
}

// leader returns the hosted partition, failing unless this broker leads it.
func (e *env) leader(topic string, index int32) *Partition {
	e.t.Helper()
	p, ok := e.m.Partition(topic, index)
	if !ok {
		e.t.Fatalf("%s-%d not hosted", topic, index)
	}
	if !p.State().Leader {
		e.t.Fatalf("%s-%d: not leader: %+v", topic, index, p.State())
	}
	return p
}

// alterConfigs replaces a topic's configs and waits for the Manager.
func (e *env) alterConfigs(topic string, configs map[string]string) {
	e.t.Helper()
	if _, err := e.cl.AlterTopicConfigs(testCtx(e.t), topic, func(map[string]string) (map[string]string, error) { return configs, nil }); err != nil {
		e.t.Fatalf("AlterTopicConfigs: %v", err)
	}
	e.sync()
}

// batchSpec describes a record batch built by makeBatch.
type batchSpec struct {
	producerID int64 // -1: not idempotent
	epoch      int16
	seq        int32
	records    int   // default 1
	valueSize  int   // default 10
	timestamp  int64 // base timestamp; default 1000
	tsStep     int64 // timestamp delta between records
	attrs      int16
}

// plain returns a spec of n records without producer id.
func plain(n int) batchSpec { return batchSpec{producerID: -1, epoch: -1, seq: -1, records: n} }

// idem returns a spec of n records of producer pid at epoch and sequence.
func idem(pid int64, epoch int16, seq int32, n int) batchSpec {
	return batchSpec{producerID: pid, epoch: epoch, seq: seq, records: n}
}

// makeBatch builds an uncompressed magic 2 record batch as a producer
// sends it (base offset 0, leader epoch -1).
func makeBatch(s batchSpec) []byte {
	if s.records == 0 {
		s.records = 1
	}
	if s.valueSize == 0 {
		s.valueSize = 10
	}
	if s.timestamp == 0 {
		s.timestamp = 1000
	}
	val := make([]byte, s.valueSize)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	var recs []byte
	var body []byte
	for i := 0; i < s.records; i++ {
		body = body[:0]
		body = append(body, 0)
		body = binary.AppendVarint(body, int64(i)*s.tsStep)
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, -1)
		body = binary.AppendVarint(body, int64(len(val)))
		body = append(body, val...)
		body = binary.AppendVarint(body, 0)
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(s.attrs))
	be.PutUint32(b[23:], uint32(s.records-1))
	be.PutUint64(b[27:], uint64(s.timestamp))
	be.PutUint64(b[35:], uint64(s.timestamp+int64(s.records-1)*s.tsStep))
	be.PutUint64(b[43:], uint64(s.producerID))
	be.PutUint16(b[51:], uint16(s.epoch))
	be.PutUint32(b[53:], uint32(s.seq))
	be.PutUint32(b[57:], uint32(s.records))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// mustAppend appends a batch with acks=1 and fails the test on error.
func mustAppend(t testing.TB, p *Partition, batch []byte) ProduceResult {
	t.Helper()
	res, err := p.Append(batch, 1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// fetchAll reads every batch from offset up to the high watermark.
func fetchAll(t testing.TB, p *Partition, offset int64) []byte {
	t.Helper()
	var out []byte
	for {
		res, err := p.Fetch(nil, FetchParams{Offset: offset, MaxBytes: 1 << 20, MinOneMessage: true, CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch, ReplicaID: ConsumerReplicaID})
		if err != nil {
			t.Fatalf("Fetch at %d: %v", offset, err)
		}
		if len(res.Records) == 0 {
			return out
		}
		out = append(out, res.Records...)
		for pos := 0; pos < len(res.Records); {
			b := res.Records[pos:]
			base := int64(binary.BigEndian.Uint64(b))
			length := int(binary.BigEndian.Uint32(b[8:]))
			offset = base + int64(binary.BigEndian.Uint32(b[23:])) + 1
			pos += 12 + length
		}
	}
}

// batchOffsets returns the base offsets of concatenated batches.
func batchOffsets(b []byte) []int64 {
	var out []int64
	for pos := 0; pos+12 <= len(b); pos += 12 + int(binary.BigEndian.Uint32(b[pos+8:])) {
		out = append(out, int64(binary.BigEndian.Uint64(b[pos:])))
	}
	return out
}

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

func readFile(dir, name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
