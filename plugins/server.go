package plugins

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"github.com/chronik-go/chronik/plugins/internal/pb"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// watchStartedKey is the response header the server sends on a Watch
// stream once the backend accepted the watch; a stream that fails before it
// failed to start (e.g. ErrCompacted), and Client.Watch returns that error.
const (
	watchStartedKey   = "chronik-watch"
	watchStartedValue = "started"
)

// RegisterBackend registers the MetadataBackend gRPC service on s serving
// b, an already-configured backend: Configure answers metadata.ErrInvalid
// ("already configured"). Every other RPC goes to b, with b's errors
// translated to gRPC statuses (see errors.go). Used to expose one backend to
// other processes (e.g. the memory backend's proxy nodes) and in tests. The
// caller keeps ownership of b and closes it after stopping s.
func RegisterBackend(s grpc.ServiceRegistrar, b metadata.Backend) {
	pb.RegisterMetadataBackendServer(s, &server{backend: b})
}

// server implements pb.MetadataBackendServer over one metadata.Backend,
// either given (RegisterBackend) or built by the first Configure
// (RegisterFactory). Safe for concurrent use.
type server struct {
	pb.UnimplementedMetadataBackendServer

	factory *Factory // nil: the backend was given and is already configured

	// confMu serializes Configure (held across Factory.New); lock order:
	// confMu, then mu.
	confMu sync.Mutex

	mu      sync.Mutex
	backend metadata.Backend // nil until configured
	cfg     metadata.Config  // the configuration backend was built with
	closed  bool
}

var _ pb.MetadataBackendServer = (*server)(nil)

// errServerClosed answers calls that reach a server after its closer ran.
var errServerClosed = fmt.Errorf("plugins: plugin server is shutting down: %w", metadata.ErrUnavailable)

// get returns the configured backend, or the error to answer with.
func (s *server) get() (metadata.Backend, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errServerClosed
	case s.backend == nil:
		return nil, fmt.Errorf("%w: call Configure first", metadata.ErrNotConfigured)
	}
	return s.backend, nil
}

// Close closes the backend built by Configure (the io.Closer returned by
// RegisterFactory). Later calls fail with ErrUnavailable. Idempotent.
func (s *server) Close() error {
	s.mu.Lock()
	b := s.backend
	s.backend, s.closed = nil, true
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if s.factory == nil {
		return nil, toStatus(fmt.Errorf("%w: backend already configured", metadata.ErrInvalid))
	}
	cfg := fromPBConfig(req.GetConfig())

	s.confMu.Lock()
	defer s.confMu.Unlock()
	s.mu.Lock()
	closed, configured, same := s.closed, s.backend != nil, reflect.DeepEqual(s.cfg, cfg)
	s.mu.Unlock()
	switch {
	case closed:
		return nil, toStatus(errServerClosed)
	case configured && same:
		return &pb.ConfigureResponse{}, nil
	case configured:
		return nil, toStatus(fmt.Errorf("%w: backend already configured with a different configuration", metadata.ErrInvalid))
	}

	b, err := s.factory.New(ctx, cfg)
	if err != nil {
		return nil, toStatus(fmt.Errorf("configure %s backend: %w", s.factory.Name, err))
	}
	if b == nil {
		return nil, toStatus(fmt.Errorf("configure %s backend: Factory.New returned no backend and no error", s.factory.Name))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, toStatus(errors.Join(errServerClosed, b.Close()))
	}
	s.backend, s.cfg = b, cfg
	s.mu.Unlock()
	return &pb.ConfigureResponse{}, nil
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	b, err := s.get()
	if errors.Is(err, metadata.ErrNotConfigured) && s.factory != nil {
		return &pb.InfoResponse{Info: toPBInfo(metadata.Info{
			Name: s.factory.Name, Version: s.factory.Version, Capabilities: s.factory.Capabilities})}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := b.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InfoResponse{Info: toPBInfo(info)}, nil
}

func (s *server) RegisterBroker(ctx context.Context, req *pb.RegisterBrokerRequest) (*pb.RegisterBrokerResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	br, err := b.RegisterBroker(ctx, fromPBRegistration(req.GetRegistration()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RegisterBrokerResponse{Broker: toPBBroker(br)}, nil
}

func (s *server) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := b.Heartbeat(ctx, req.GetBrokerId(), req.GetEpoch())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.HeartbeatResponse{Epoch: res.Epoch, SessionTimeoutNs: int64(res.SessionTimeout)}, nil
}

func (s *server) UnregisterBroker(ctx context.Context, req *pb.UnregisterBrokerRequest) (*pb.UnregisterBrokerResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	if err := b.UnregisterBroker(ctx, req.GetBrokerId(), req.GetEpoch()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnregisterBrokerResponse{}, nil
}

func (s *server) CreateTopic(ctx context.Context, req *pb.CreateTopicRequest) (*pb.CreateTopicResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	spec, err := fromPBTopicSpec(req.GetSpec())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := b.CreateTopic(ctx, spec)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateTopicResponse{Topic: toPBTopic(t)}, nil
}

func (s *server) DeleteTopic(ctx context.Context, req *pb.DeleteTopicRequest) (*pb.DeleteTopicResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	if err := b.DeleteTopic(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteTopicResponse{}, nil
}

func (s *server) AlterPartition(ctx context.Context, req *pb.AlterPartitionRequest) (*pb.AlterPartitionResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := b.AlterPartition(ctx, fromPBPartitionChange(req.GetChange()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.AlterPartitionResponse{Partition: toPBPartition(p)}, nil
}

func (s *server) AllocateProducerIDs(ctx context.Context, req *pb.AllocateProducerIDsRequest) (*pb.AllocateProducerIDsResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	n := req.GetCount()
	if int64(int(n)) != n {
		return nil, toStatus(fmt.Errorf("%w: producer id count %d out of range", metadata.ErrInvalid, n))
	}
	first, err := b.AllocateProducerIDs(ctx, int(n))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.AllocateProducerIDsResponse{First: first}, nil
}

func (s *server) Snapshot(ctx context.Context, _ *pb.SnapshotRequest) (*pb.SnapshotResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := b.Snapshot(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SnapshotResponse{State: toPBState(st)}, nil
}

// Watch streams the backend's batches. The response headers carry
// watchStartedKey once backend.Watch succeeded; a batch with Err ends the
// stream with Err as its status. The stream's context is the watch's
// context: the client cancelling it (or the connection dying) ends the
// backend's watch.
func (s *server) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchBatch]) error {
	b, err := s.get()
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	ch, err := b.Watch(ctx, metadata.Revision(req.GetFrom()))
	if err != nil {
		return toStatus(err)
	}
	// From here on, returning ends the stream and cancels ctx, which closes
	// ch (the backend's contract).
	if err := stream.SendHeader(grpcmd.Pairs(watchStartedKey, watchStartedValue)); err != nil {
		return err
	}
	for batch := range ch {
		if batch.Err != nil {
			return toStatus(batch.Err)
		}
		if err := stream.Send(toPBWatchBatch(batch)); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return toStatus(err)
	}
	return toStatus(fmt.Errorf("%w: the backend ended the watch without an error", metadata.ErrUnavailable))
}

func (s *server) Compact(ctx context.Context, req *pb.CompactRequest) (*pb.CompactResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	c, ok := b.(metadata.Compactor)
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: Compact", metadata.ErrUnsupported))
	}
	if err := c.Compact(ctx, metadata.Revision(req.GetRevision())); err != nil {
		return nil, toStatus(err)
	}
	return &pb.CompactResponse{}, nil
}

func (s *server) AddMember(ctx context.Context, req *pb.AddMemberRequest) (*pb.AddMemberResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	m, ok := b.(metadata.Membership)
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: AddMember", metadata.ErrUnsupported))
	}
	if err := m.AddMember(ctx, fromPBMember(req.GetMember())); err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddMemberResponse{}, nil
}

func (s *server) RemoveMember(ctx context.Context, req *pb.RemoveMemberRequest) (*pb.RemoveMemberResponse, error) {
	b, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	m, ok := b.(metadata.Membership)
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: RemoveMember", metadata.ErrUnsupported))
	}
	if err := m.RemoveMember(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveMemberResponse{}, nil
}

// topicUpdater returns the configured backend as a metadata.TopicUpdater.
func (s *server) topicUpdater(call string) (metadata.TopicUpdater, error) {
	b, err := s.get()
	if err != nil {
		return nil, err
	}
	u, ok := b.(metadata.TopicUpdater)
	if !ok {
		return nil, fmt.Errorf("%w: %s", metadata.ErrUnsupported, call)
	}
	return u, nil
}

func (s *server) AddPartitions(ctx context.Context, req *pb.AddPartitionsRequest) (*pb.AddPartitionsResponse, error) {
	u, err := s.topicUpdater("AddPartitions")
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := u.AddPartitions(ctx, req.GetTopic(), req.GetExpectedCount(), fromPBPartitionSpecs(req.GetPartitions()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.AddPartitionsResponse{Topic: toPBTopic(t)}, nil
}

func (s *server) SetTopicConfigs(ctx context.Context, req *pb.SetTopicConfigsRequest) (*pb.SetTopicConfigsResponse, error) {
	u, err := s.topicUpdater("SetTopicConfigs")
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := u.SetTopicConfigs(ctx, req.GetTopic(), req.GetExpectedConfigs(), req.GetConfigs())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetTopicConfigsResponse{Topic: toPBTopic(t)}, nil
}
