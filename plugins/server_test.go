package plugins

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestMain checks that no test of the package leaves a goroutine behind.
// With testPluginEnv set, the test binary is instead a plugin process
// (Serve), for the tests that start it through go-plugin.
func TestMain(m *testing.M) {
	if os.Getenv(testPluginEnv) != "" {
		serveTestPlugin()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// fakeBackend is a small single-node metadata.Backend for the adapter
// tests: enough of the contract to see every field and error cross the
// boundary. hook, when set, runs first in every call and can fail it.
type fakeBackend struct {
	mu        sync.Mutex
	state     metadata.State
	history   []metadata.WatchBatch
	compacted metadata.Revision
	changed   chan struct{} // closed and replaced on every commit or watchErr
	watchErr  error         // ends every watch with an Err batch
	closed    bool
	info      metadata.Info
	hook      func(ctx context.Context, method string) error
	watchers  sync.WaitGroup
}

var (
	_ metadata.Backend    = (*fakeBackend)(nil)
	_ metadata.Compactor  = (*fakeBackend)(nil)
	_ metadata.Membership = (*fakeBackend)(nil)
)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{state: metadata.NewState(), changed: make(chan struct{}),
		info: metadata.Info{Name: "fake", Version: "0.1", NodeID: "n1", Leader: "n1",
			Capabilities: []metadata.Capability{metadata.CapCompact},
			Members:      []metadata.Member{{ID: "n1", Address: "127.0.0.1:1", Voter: true, Leader: true}}}}
}

func (f *fakeBackend) setHook(h func(ctx context.Context, method string) error) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

func (f *fakeBackend) enter(ctx context.Context, method string) error {
	f.mu.Lock()
	h, closed := f.hook, f.closed
	f.mu.Unlock()
	if closed {
		return fmt.Errorf("fake: %s after Close: %w", method, metadata.ErrUnavailable)
	}
	if h != nil {
		return h(ctx, method)
	}
	return nil
}

// commit applies events as the next revision. f.mu must be held.
func (f *fakeBackend) commit(events ...metadata.Event) metadata.Revision {
	b := metadata.WatchBatch{Revision: f.state.Revision + 1, Events: events}
	if err := f.state.Apply(b); err != nil {
		panic(err)
	}
	f.history = append(f.history, b)
	close(f.changed)
	f.changed = make(chan struct{})
	return b.Revision
}

// failWatches ends every open watch with an Err batch carrying err.
func (f *fakeBackend) failWatches(err error) {
	f.mu.Lock()
	f.watchErr = err
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeBackend) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if err := f.enter(ctx, "RegisterBroker"); err != nil {
		return metadata.Broker{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.state.Brokers[reg.ID]; ok && !old.Fenced {
		if old.IncarnationID == reg.IncarnationID {
			return old.Clone(), nil
		}
		return metadata.Broker{}, fmt.Errorf("fake: broker %d: %w", reg.ID, metadata.ErrDuplicateBroker)
	}
	b := metadata.Broker{ID: reg.ID, IncarnationID: reg.IncarnationID, Listeners: reg.Listeners, Rack: reg.Rack,
		Epoch: int64(f.state.Revision + 1)}
	f.commit(metadata.Event{Type: metadata.EventBrokerRegistered, Broker: b})
	return b.Clone(), nil
}

func (f *fakeBackend) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	if err := f.enter(ctx, "Heartbeat"); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.state.Brokers[id]
	switch {
	case !ok || b.Fenced:
		return metadata.HeartbeatResult{}, fmt.Errorf("fake: broker %d: %w", id, metadata.ErrFenced)
	case b.Epoch != epoch:
		return metadata.HeartbeatResult{}, fmt.Errorf("fake: broker %d epoch %d: %w", id, epoch, metadata.ErrStaleEpoch)
	}
	return metadata.HeartbeatResult{Epoch: epoch, SessionTimeout: 1234 * time.Millisecond}, nil
}

func (f *fakeBackend) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	if err := f.enter(ctx, "UnregisterBroker"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.state.Brokers[id]
	if !ok {
		return nil
	}
	if b.Epoch != epoch {
		return fmt.Errorf("fake: broker %d: %w", id, metadata.ErrStaleEpoch)
	}
	f.commit(metadata.Event{Type: metadata.EventBrokerUnregistered, BrokerID: id})
	return nil
}

func (f *fakeBackend) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if err := f.enter(ctx, "CreateTopic"); err != nil {
		return metadata.Topic{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if spec.Name == "" || spec.ID.IsZero() || len(spec.Partitions) == 0 {
		return metadata.Topic{}, fmt.Errorf("fake: create topic: %w", metadata.ErrInvalid)
	}
	if _, ok := f.state.Topics[spec.Name]; ok {
		return metadata.Topic{}, fmt.Errorf("fake: create topic %q: %w", spec.Name, metadata.ErrTopicExists)
	}
	t := metadata.Topic{Name: spec.Name, ID: spec.ID, Configs: spec.Configs, CreatedAt: f.state.Revision + 1}
	for i, ps := range spec.Partitions {
		isr := ps.ISR
		if len(isr) == 0 {
			isr = ps.Replicas
		}
		t.Partitions = append(t.Partitions, metadata.Partition{Topic: spec.Name, Partition: int32(i),
			Replicas: slices.Clone(ps.Replicas), Leader: ps.Leader, ISR: slices.Clone(isr)})
	}
	f.commit(metadata.Event{Type: metadata.EventTopicCreated, Topic: t})
	return t.Clone(), nil
}

func (f *fakeBackend) DeleteTopic(ctx context.Context, name string) error {
	if err := f.enter(ctx, "DeleteTopic"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.state.Topics[name]; !ok {
		return fmt.Errorf("fake: delete topic %q: %w", name, metadata.ErrUnknownTopic)
	}
	f.commit(metadata.Event{Type: metadata.EventTopicDeleted, TopicName: name})
	return nil
}

func (f *fakeBackend) AlterPartition(ctx context.Context, c metadata.PartitionChange) (metadata.Partition, error) {
	if err := f.enter(ctx, "AlterPartition"); err != nil {
		return metadata.Partition{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.state.Topics[c.Topic]
	if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return metadata.Partition{}, fmt.Errorf("fake: %s/%d: %w", c.Topic, c.Partition, metadata.ErrUnknownTopic)
	}
	p := t.Partitions[c.Partition].Clone()
	if p.PartitionEpoch != c.ExpectedPartitionEpoch {
		return metadata.Partition{}, fmt.Errorf("fake: %s/%d: %w", c.Topic, c.Partition, metadata.ErrStaleEpoch)
	}
	if c.Replicas != nil {
		p.Replicas = slices.Clone(c.Replicas)
	}
	if p.Leader != c.Leader {
		p.LeaderEpoch++
	}
	p.Leader, p.ISR = c.Leader, slices.Clone(c.ISR)
	p.PartitionEpoch++
	f.commit(metadata.Event{Type: metadata.EventPartitionChanged, Partition: p})
	return p.Clone(), nil
}

func (f *fakeBackend) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	if err := f.enter(ctx, "AllocateProducerIDs"); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("fake: allocate %d producer ids: %w", n, metadata.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.state.NextProducerID
	f.commit(metadata.Event{Type: metadata.EventProducerIDsAllocated, NextProducerID: first + int64(n)})
	return first, nil
}

func (f *fakeBackend) Snapshot(ctx context.Context) (metadata.State, error) {
	if err := f.enter(ctx, "Snapshot"); err != nil {
		return metadata.State{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Clone(), nil
}

func (f *fakeBackend) Info(ctx context.Context) (metadata.Info, error) {
	if err := f.enter(ctx, "Info"); err != nil {
		return metadata.Info{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, nil
}

func (f *fakeBackend) Compact(ctx context.Context, rev metadata.Revision) error {
	if err := f.enter(ctx, "Compact"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.compacted = max(f.compacted, rev)
	return nil
}

// AddMember adds or updates m in Info's members.
func (f *fakeBackend) AddMember(ctx context.Context, m metadata.Member) error {
	if err := f.enter(ctx, "AddMember"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.info.Members = slices.DeleteFunc(slices.Clone(f.info.Members), func(x metadata.Member) bool { return x.ID == m.ID })
	f.info.Members = append(f.info.Members, m)
	return nil
}

// RemoveMember removes id from Info's members.
func (f *fakeBackend) RemoveMember(ctx context.Context, id string) error {
	if err := f.enter(ctx, "RemoveMember"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.info.Members = slices.DeleteFunc(slices.Clone(f.info.Members), func(x metadata.Member) bool { return x.ID == id })
	return nil
}

// Watch delivers the history after from, then every new commit, from one
// goroutine that ends when ctx ends or after an Err batch.
func (f *fakeBackend) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	if err := f.enter(ctx, "Watch"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if from < f.compacted {
		return nil, fmt.Errorf("fake: watch from %d (compacted up to %d): %w", from, f.compacted, metadata.ErrCompacted)
	}
	ch := make(chan metadata.WatchBatch)
	f.watchers.Go(func() {
		defer close(ch)
		next := from
		for {
			f.mu.Lock()
			var todo []metadata.WatchBatch
			for _, b := range f.history {
				if b.Revision > next {
					todo = append(todo, b)
				}
			}
			werr, changed := f.watchErr, f.changed
			f.mu.Unlock()
			for _, b := range todo {
				select {
				case ch <- b:
					next = b.Revision
				case <-ctx.Done():
					return
				}
			}
			if len(todo) > 0 {
				continue
			}
			if werr != nil {
				select {
				case ch <- metadata.WatchBatch{Err: werr}:
				case <-ctx.Done():
				}
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	})
	return ch, nil
}

func (f *fakeBackend) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// testServer is a gRPC server on a bufconn listener and a connection to it.
type testServer struct {
	cc   *grpc.ClientConn
	stop func() // stops the server (idempotent)
}

// startTestServer starts a gRPC server with register's services and
// connects to it. Everything stops at cleanup.
func startTestServer(t *testing.T, register func(s *grpc.Server)) *testServer {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	register(srv)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	stop := sync.OnceFunc(func() {
		srv.Stop()
		wg.Wait()
	})
	t.Cleanup(func() {
		_ = cc.Close()
		stop()
	})
	return &testServer{cc: cc, stop: stop}
}

// serveTest is startTestServer for tests that need only the connection.
func serveTest(t *testing.T, register func(s *grpc.Server)) *grpc.ClientConn {
	t.Helper()
	return startTestServer(t, register).cc
}

// newTestClient serves b with RegisterBackend and returns a Client for it.
func newTestClient(t *testing.T, b metadata.Backend) *Client {
	t.Helper()
	cc := serveTest(t, func(s *grpc.Server) { RegisterBackend(s, b) })
	c := NewClient(cc)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
