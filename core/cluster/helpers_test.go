package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// Timings of the test clusters: short sessions so that fencing tests are
// quick, heartbeats at a tenth of the session.
const (
	testSession   = 800 * time.Millisecond
	testHeartbeat = 80 * time.Millisecond
)

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newStore returns a memory store with the given session timeout (0: the
// test default), closed at cleanup.
func newStore(t *testing.T, session time.Duration) *memory.Store {
	t.Helper()
	if session == 0 {
		session = testSession
	}
	s, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: session})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// node returns a handle of s acting as another node, closed at cleanup.
func node(t *testing.T, s *memory.Store, id string) *memory.Store {
	t.Helper()
	n := s.Node(id)
	t.Cleanup(func() { n.Close() })
	return n
}

func testConfig(id int32, rack string) Config {
	cfg := DefaultConfig()
	cfg.BrokerID = id
	cfg.Rack = rack
	cfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}
	cfg.HeartbeatInterval = testHeartbeat
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxRetryBackoff = 100 * time.Millisecond
	cfg.CallTimeout = time.Second
	cfg.ShutdownTimeout = time.Second
	return cfg
}

// startCluster starts a Cluster for broker id over b, closed at cleanup.
func startCluster(t *testing.T, b metadata.Backend, id int32, rack string) *Cluster {
	t.Helper()
	return startClusterCfg(t, b, testConfig(id, rack))
}

func startClusterCfg(t *testing.T, b metadata.Backend, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg, b, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c
}

// abandon stops c's loops without unregistering, like a killed process:
// its session stays until it expires.
func (c *Cluster) abandon() {
	c.closeOnce.Do(func() { c.closeErr = c.shutdown(false) })
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitReady(t *testing.T, cs ...*Cluster) {
	t.Helper()
	for _, c := range cs {
		if err := c.WaitReady(testCtx(t)); err != nil {
			t.Fatalf("broker %d: WaitReady: %v", c.BrokerID(), err)
		}
	}
}

func liveIDs(img *Image) []int32 {
	var ids []int32
	for _, b := range img.LiveBrokers() {
		ids = append(ids, b.ID)
	}
	return ids
}

func mustErr(t *testing.T, err error, want ...error) {
	t.Helper()
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("error = %v, want %v", err, w)
		}
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// faultBackend wraps a backend to inject failures: heartbeats or
// registrations that fail with ErrUnavailable, watch streams that are held
// (batches not forwarded), broken (an Err batch) or fed a forged batch. It
// counts calls. It implements metadata.TopicUpdater by delegation.
type faultBackend struct {
	metadata.Backend

	heartbeatsDown atomic.Bool
	registerDown   atomic.Bool
	// lostReplies > 0: the next admin writes (CreateTopic, DeleteTopic,
	// AddPartitions) commit, then fail with ErrUnavailable as if the reply
	// was lost; each decrements it.
	lostReplies atomic.Int32
	// bareExists: CreateTopic's ErrTopicExists comes without the existing
	// topic (as over gRPC).
	bareExists atomic.Bool
	// beforeAdd, when set, runs once at the next AddPartitions, before it
	// reaches the backend.
	beforeAdd atomic.Pointer[func()]

	snapshots     atomic.Int32
	watches       atomic.Int32
	registers     atomic.Int32
	duplicates    atomic.Int32
	hbFailures    atomic.Int32
	hbOK          atomic.Int32
	addPartitions atomic.Int32
	setConfigs    atomic.Int32

	mu      sync.Mutex
	release chan struct{} // closed while streams flow; open while held
	brk     chan error    // streams take one error from it and end with it
	inject  chan metadata.WatchBatch
	wg      sync.WaitGroup
}

var (
	_ metadata.Backend      = (*faultBackend)(nil)
	_ metadata.TopicUpdater = (*faultBackend)(nil)
)

func newFault(t *testing.T, b metadata.Backend) *faultBackend {
	t.Helper()
	f := &faultBackend{Backend: b, release: make(chan struct{}), brk: make(chan error), inject: make(chan metadata.WatchBatch)}
	close(f.release)
	// Registered before the Clusters using f, so it runs after they closed.
	t.Cleanup(f.wg.Wait)
	return f
}

func (f *faultBackend) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	f.registers.Add(1)
	if f.registerDown.Load() {
		return metadata.Broker{}, fmt.Errorf("fault: registration down: %w", metadata.ErrUnavailable)
	}
	b, err := f.Backend.RegisterBroker(ctx, reg)
	if errors.Is(err, metadata.ErrDuplicateBroker) {
		f.duplicates.Add(1)
	}
	return b, err
}

func (f *faultBackend) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	if f.heartbeatsDown.Load() {
		f.hbFailures.Add(1)
		return metadata.HeartbeatResult{}, fmt.Errorf("fault: heartbeats down: %w", metadata.ErrUnavailable)
	}
	res, err := f.Backend.Heartbeat(ctx, id, epoch)
	if err == nil {
		f.hbOK.Add(1)
	}
	return res, err
}

func (f *faultBackend) Snapshot(ctx context.Context) (metadata.State, error) {
	f.snapshots.Add(1)
	return f.Backend.Snapshot(ctx)
}

// lose reports whether this write's reply is to be lost.
func (f *faultBackend) lose(err error) error {
	if err == nil && f.lostReplies.Add(-1) >= 0 {
		return fmt.Errorf("fault: reply lost: %w", metadata.ErrUnavailable)
	}
	return err
}

func (f *faultBackend) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	t, err := f.Backend.CreateTopic(ctx, spec)
	if errors.Is(err, metadata.ErrTopicExists) && f.bareExists.Load() {
		t = metadata.Topic{}
	}
	if err = f.lose(err); err != nil {
		return t, err
	}
	return t, nil
}

func (f *faultBackend) DeleteTopic(ctx context.Context, name string) error {
	return f.lose(f.Backend.DeleteTopic(ctx, name))
}

func (f *faultBackend) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	f.addPartitions.Add(1)
	if hook := f.beforeAdd.Swap(nil); hook != nil {
		(*hook)()
	}
	t, err := f.Backend.(metadata.TopicUpdater).AddPartitions(ctx, topic, expectedCount, parts)
	if err = f.lose(err); err != nil {
		return metadata.Topic{}, err
	}
	return t, nil
}

func (f *faultBackend) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	f.setConfigs.Add(1)
	return f.Backend.(metadata.TopicUpdater).SetTopicConfigs(ctx, topic, expected, configs)
}

// hold stops forwarding watch batches until unhold.
func (f *faultBackend) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.release:
		f.release = make(chan struct{})
	default:
	}
}

func (f *faultBackend) unhold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.release:
	default:
		close(f.release)
	}
}

func (f *faultBackend) released() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.release
}

// breakStream makes the current watch stream end with an Err batch
// carrying err (batches it holds are dropped). It waits until a stream
// took it.
func (f *faultBackend) breakStream(t *testing.T, err error) {
	t.Helper()
	select {
	case f.brk <- err:
	case <-time.After(waitTimeout):
		t.Fatalf("no watch stream to break")
	}
}

// forge makes the current watch stream deliver b.
func (f *faultBackend) forge(t *testing.T, b metadata.WatchBatch) {
	t.Helper()
	select {
	case f.inject <- b:
	case <-time.After(waitTimeout):
		t.Fatalf("no watch stream to forge a batch on")
	}
}

func (f *faultBackend) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	f.watches.Add(1)
	ictx, cancel := context.WithCancel(ctx)
	in, err := f.Backend.Watch(ictx, from)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan metadata.WatchBatch)
	f.wg.Add(1)
	go f.forward(ctx, cancel, in, out)
	return out, nil
}

// forward copies in to out, honouring hold, breakStream and forge. Owned
// by f (wg); ends with the stream or ctx.
func (f *faultBackend) forward(ctx context.Context, cancel context.CancelFunc, in <-chan metadata.WatchBatch, out chan<- metadata.WatchBatch) {
	defer f.wg.Done()
	defer cancel()
	defer close(out)
	send := func(b metadata.WatchBatch) bool {
		select {
		case out <- b:
			return b.Err == nil
		case err := <-f.brk:
			f.end(ctx, out, err)
			return false
		case <-ctx.Done():
			return false
		}
	}
	for {
		var b metadata.WatchBatch
		select {
		case got, ok := <-in:
			if !ok {
				return
			}
			b = got
		case fb := <-f.inject:
			if !send(fb) {
				return
			}
			continue
		case err := <-f.brk:
			f.end(ctx, out, err)
			return
		case <-ctx.Done():
			return
		}
		select {
		case <-f.released():
		case err := <-f.brk:
			f.end(ctx, out, err)
			return
		case <-ctx.Done():
			return
		}
		if !send(b) {
			return
		}
	}
}

func (f *faultBackend) end(ctx context.Context, out chan<- metadata.WatchBatch, err error) {
	select {
	case out <- metadata.WatchBatch{Err: err}:
	case <-ctx.Done():
	}
}

// noUpdater hides a backend's optional interfaces.
type noUpdater struct{ metadata.Backend }

// sameState fails the test unless img holds exactly st's brokers, topics
// and revision.
func sameState(t *testing.T, img *Image, st metadata.State) {
	t.Helper()
	if img.Revision() != st.Revision {
		t.Fatalf("image at revision %d, state at %d", img.Revision(), st.Revision)
	}
	if len(img.Brokers()) != len(st.Brokers) {
		t.Fatalf("image has %d brokers, state %d", len(img.Brokers()), len(st.Brokers))
	}
	for id, want := range st.Brokers {
		got, ok := img.Broker(id)
		if !ok || !brokerEqual(got, want) {
			t.Fatalf("broker %d: image %+v (found %v), state %+v", id, got, ok, want)
		}
	}
	if len(img.TopicNames()) != len(st.Topics) {
		t.Fatalf("image has topics %v, state has %d", img.TopicNames(), len(st.Topics))
	}
	for name, want := range st.Topics {
		got, ok := img.Topic(name)
		if !ok || !topicEqual(got, want) {
			t.Fatalf("topic %q: image %+v (found %v), state %+v", name, got, ok, want)
		}
		if byID, ok := img.TopicByID(want.ID); !ok || byID.Name != name {
			t.Fatalf("TopicByID(%v) = %q, %v; want %q", want.ID, byID.Name, ok, name)
		}
	}
	if img.NextProducerID() != st.NextProducerID {
		t.Fatalf("next producer id: image %d, state %d", img.NextProducerID(), st.NextProducerID)
	}
	if img.ClusterID() != st.ClusterID {
		t.Fatalf("cluster id: image %q, state %q", img.ClusterID(), st.ClusterID)
	}
}

func brokerEqual(a, b metadata.Broker) bool {
	return a.ID == b.ID && a.IncarnationID == b.IncarnationID && slices.Equal(a.Listeners, b.Listeners) &&
		a.Rack == b.Rack && a.Epoch == b.Epoch && a.Fenced == b.Fenced
}

func topicEqual(a, b metadata.Topic) bool {
	if a.Name != b.Name || a.ID != b.ID || a.CreatedAt != b.CreatedAt || len(a.Partitions) != len(b.Partitions) || len(a.Configs) != len(b.Configs) {
		return false
	}
	for k, v := range a.Configs {
		if b.Configs[k] != v {
			return false
		}
	}
	for i := range a.Partitions {
		p, q := a.Partitions[i], b.Partitions[i]
		if p.Topic != q.Topic || p.Partition != q.Partition || p.Leader != q.Leader || p.LeaderEpoch != q.LeaderEpoch ||
			p.PartitionEpoch != q.PartitionEpoch || !slices.Equal(p.Replicas, q.Replicas) || !slices.Equal(p.ISR, q.ISR) {
			return false
		}
	}
	return true
}
