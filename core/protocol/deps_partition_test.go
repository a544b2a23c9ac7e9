package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/wire"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Harness of the data-path handler tests: a real cluster.Cluster over the
// memory backend, a real partition.Manager over t.TempDir(), a Broker with
// both, and dpCall, which sends a request through the wire codec both ways
// and runs a deferred answer like the server does.

// dpWait bounds every wait of these tests.
const dpWait = 10 * time.Second

// dpLeakCheck fails the test if it leaves goroutines behind (the package
// has no TestMain of its own: this check runs after the test's cleanups).
func dpLeakCheck(t testing.TB) {
	t.Helper()
	brokertest.LeakCheck(t)
}

// dpLogger discards logs unless CHRONIK_TEST_LOGS is set with -v.
func dpLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("CHRONIK_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// dpEnv is one broker with its data path.
type dpEnv struct {
	t     testing.TB
	store *memory.Store
	b     *Broker
}

// newDPEnv starts broker 1 over a fresh memory store.
func newDPEnv(t testing.TB, tweak func(*partition.Config)) *dpEnv {
	t.Helper()
	dpLeakCheck(t)
	st, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &dpEnv{t: t, store: st}
	e.b = e.startBroker(st, 1, tweak)
	return e
}

// startBroker starts broker id (cluster membership and partitions) over
// backend.
func (e *dpEnv) startBroker(backend metadata.Backend, id int32, tweak func(*partition.Config)) *Broker {
	t := e.t
	t.Helper()
	ccfg := cluster.DefaultConfig()
	ccfg.BrokerID = id
	ccfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}
	ccfg.HeartbeatInterval = 100 * time.Millisecond
	ccfg.RetryBackoff = 10 * time.Millisecond
	ccfg.MaxRetryBackoff = 100 * time.Millisecond
	ccfg.ShutdownTimeout = time.Second
	cl, err := cluster.New(ccfg, backend, dpLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dpWait)
	defer cancel()
	if err := cl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	pcfg := partition.DefaultConfig()
	pcfg.DataDir = t.TempDir()
	if tweak != nil {
		tweak(&pcfg)
	}
	m, err := partition.New(pcfg, cl, backend, dpLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	return &Broker{NodeID: id, Logger: dpLogger(t), Cluster: cl, Partitions: m, Config: DefaultConfig()}
}

// sync waits until b's partitions follow its current image.
func (e *dpEnv) sync(b *Broker) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dpWait)
	defer cancel()
	if err := b.Partitions.WaitRevision(ctx, b.Cluster.Image().Revision()); err != nil {
		e.t.Fatal(err)
	}
}

// topic creates a topic (replication factor 1 unless assignment is given)
// and waits until the broker hosts it.
func (e *dpEnv) topic(name string, partitions int32, assignment map[int32][]int32, configs map[string]string) metadata.Topic {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dpWait)
	defer cancel()
	rf := int16(1)
	if assignment != nil {
		partitions, rf = -1, -1
	}
	tp, err := e.b.Cluster.CreateTopic(ctx, name, partitions, rf, assignment, configs)
	if err != nil {
		e.t.Fatalf("CreateTopic %s: %v", name, err)
	}
	e.sync(e.b)
	return tp
}

// dpCall sends req through the wire codec to b's handler and returns the
// decoded response: nil when the handler answers nothing (acks=0); a
// deferred answer is waited for, as the server does.
func dpCall(t *testing.T, b *Broker, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dpWait)
	defer cancel()
	return dpCallCtx(ctx, t, b, req)
}

func dpCallCtx(ctx context.Context, t *testing.T, b *Broker, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("dp")).AppendRequest(nil, req, 9)[4:]
	var h wire.Header
	body, rest, err := wire.ParseHeader(frame, &h)
	if err != nil {
		t.Fatalf("%s v%d: parse header: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	api, ok := b.APIs().Lookup(h.Key)
	if !ok || !api.Supports(h.Version) {
		t.Fatalf("%s v%d is not served", kmsg.NameForKey(req.Key()), h.Version)
	}
	if err := wire.DecodeBody(body, rest); err != nil {
		t.Fatalf("%s v%d: decode: %v", kmsg.NameForKey(req.Key()), h.Version, err)
	}
	r := &Request{Header: h, Body: body, RemoteAddr: &net.TCPAddr{}, Logger: dpLogger(t)}
	resp, err := api.Handle(ctx, b, r)
	if err == nil && resp == nil && r.Deferred() != nil {
		resp, err = r.Deferred()(ctx)
	}
	if err != nil || resp == nil {
		return nil, err
	}
	if resp.GetVersion() != h.Version {
		t.Fatalf("%s v%d: response at version %d", kmsg.NameForKey(req.Key()), h.Version, resp.GetVersion())
	}
	out := wire.AppendResponse(nil, h.CorrelationID, resp)
	got := req.ResponseKind()
	if corr, err := wire.ParseResponse(out[4:], got); err != nil || corr != 9 {
		t.Fatalf("%s v%d: response does not decode: %v", kmsg.NameForKey(req.Key()), h.Version, err)
	}
	return got, nil
}

// dpRoundTrip is dpCall that fails on a handler error or no response.
func dpRoundTrip[T kmsg.Response](t *testing.T, b *Broker, req kmsg.Request) T {
	t.Helper()
	resp, err := dpCall(t, b, req)
	if err != nil || resp == nil {
		t.Fatalf("%s v%d: %v, response %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err, resp)
	}
	return resp.(T)
}

// dpBatchSpec describes a record batch built by dpBatch.
type dpBatchSpec struct {
	records   int   // default 1
	valueSize int   // default 10
	pid       int64 // -1 (the default): not idempotent
	epoch     int16
	seq       int32
	timestamp int64 // default 1000
	attrs     int16
	magic     int8 // default 2
}

// dpBatch builds an uncompressed record batch as a producer sends it.
func dpBatch(s dpBatchSpec) []byte {
	if s.records == 0 {
		s.records = 1
	}
	if s.valueSize == 0 {
		s.valueSize = 10
	}
	if s.timestamp == 0 {
		s.timestamp = 1000
	}
	if s.magic == 0 {
		s.magic = 2
	}
	if s.pid == 0 {
		s.pid, s.epoch, s.seq = -1, -1, -1
	}
	val := make([]byte, s.valueSize)
	var recs, body []byte
	for i := 0; i < s.records; i++ {
		body = append(body[:0], 0)
		body = binary.AppendVarint(body, 0)
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
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = byte(s.magic)
	be.PutUint16(b[21:], uint16(s.attrs))
	be.PutUint32(b[23:], uint32(s.records-1))
	be.PutUint64(b[27:], uint64(s.timestamp))
	be.PutUint64(b[35:], uint64(s.timestamp))
	be.PutUint64(b[43:], uint64(s.pid))
	be.PutUint16(b[51:], uint16(s.epoch))
	be.PutUint32(b[53:], uint32(s.seq))
	be.PutUint32(b[57:], uint32(s.records))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// produceReq is a Produce request of one batch per partition for topic t.
func produceReq(v int16, acks int16, t metadata.Topic, batches map[int32][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = v, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = t.Name, t.ID
	for p := range int32(len(t.Partitions)) {
		b, ok := batches[p]
		if !ok {
			continue
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, b
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchReq is a Fetch request for the given partition offsets of topic t.
func fetchReq(v int16, t metadata.Topic, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = v, 0, 1, 50<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = t.Name, t.ID
	for p := range int32(len(t.Partitions)) {
		off, ok := offsets[p]
		if !ok {
			continue
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// dpBatchOffsets returns the base offsets of concatenated batches.
func dpBatchOffsets(b []byte) []int64 {
	var out []int64
	for pos := 0; pos+12 <= len(b); pos += 12 + int(binary.BigEndian.Uint32(b[pos+8:])) {
		out = append(out, int64(binary.BigEndian.Uint64(b[pos:])))
	}
	return out
}

func TestPartitionErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{nil, nil},
		{partition.ErrNotLeader, kerr.NotLeaderForPartition},
		{partition.ErrClosed, kerr.NotLeaderForPartition},
		{commitlog.ErrClosed, kerr.NotLeaderForPartition},
		{partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{partition.ErrInvalidRequiredAcks, kerr.InvalidRequiredAcks},
		{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
		{partition.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
		{partition.ErrTimeout, kerr.RequestTimedOut},
		{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{partition.ErrTransactionsUnsupported, kerr.TransactionalIDAuthorizationFailed},
		{partition.ErrProducerIDs, kerr.CoordinatorLoadInProgress},
		{partition.ErrOffsetNotAvailable, kerr.OffsetNotAvailable},
		{commitlog.ErrCorruptBatch, kerr.CorruptMessage},
		{commitlog.ErrInvalidRecord, kerr.InvalidRecord},
		{commitlog.ErrBatchTooLarge, kerr.MessageTooLarge},
		{commitlog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{commitlog.ErrLogFailed, kerr.KafkaStorageError},
		{commitlog.ErrCorruptLog, kerr.KafkaStorageError},
		{errZstdBeforeV7, kerr.UnsupportedCompressionType},
		{errors.New("something else"), kerr.UnknownServerError},
	} {
		err := tc.err
		if err != nil {
			err = fmt.Errorf("wrapped: %w", err)
		}
		if got := partitionError(err); got != tc.want {
			t.Errorf("partitionError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if partitionErrorMessage(nil) != nil || *partitionErrorMessage(errors.New("x")) != "x" {
		t.Fatal("partitionErrorMessage")
	}
}

func TestLookupPartition(t *testing.T) {
	e := newDPEnv(t, nil)
	e.topic("look", 1, nil, nil)
	img := e.b.Cluster.Image()
	if p, ke := lookupPartition(e.b, img, "look", 0); ke != nil || p == nil {
		t.Fatalf("hosted: %v", ke)
	}
	for _, tc := range []struct {
		b     *Broker
		img   *cluster.Image
		topic string
		index int32
		want  *kerr.Error
	}{
		{e.b, img, "nope", 0, kerr.UnknownTopicOrPartition},
		{e.b, img, "look", 1, kerr.UnknownTopicOrPartition},
		{e.b, img, "look", -1, kerr.UnknownTopicOrPartition},
		{&Broker{}, img, "look", 0, kerr.NotLeaderForPartition},
		{&Broker{Partitions: e.b.Partitions}, nil, "nope", 0, kerr.NotLeaderForPartition},
	} {
		if _, ke := lookupPartition(tc.b, tc.img, tc.topic, tc.index); ke != tc.want {
			t.Errorf("lookup %s-%d: %v, want %v", tc.topic, tc.index, ke, tc.want)
		}
	}
	if brokerImage(&Broker{}) != nil {
		t.Fatal("image without a cluster")
	}
}
