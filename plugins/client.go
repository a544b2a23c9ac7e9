package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"

	"github.com/chronik-go/chronik/plugins/internal/pb"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Client is a metadata.Backend (and metadata.Compactor and
// metadata.Membership) over a gRPC
// connection to a MetadataBackend service: a plugin process, or a server
// set up with RegisterBackend or RegisterFactory.
//
// Errors come back as the sentinels of package metadata (errors.Is) with the
// server's message; a transport failure (the plugin process is gone)
// matches metadata.ErrUnavailable; a call whose ctx ended matches
// ctx.Err(). Compact, AddMember and RemoveMember answer
// metadata.ErrUnsupported if the backend does not implement them: a Client
// has every optional method, so check Info's capabilities, not the type. All methods are safe for concurrent use.
type Client struct {
	rpc pb.MetadataBackendClient

	mu      sync.Mutex
	closed  bool
	streams map[*context.CancelCauseFunc]struct{} // cancels of open Watch streams
}

var (
	_ metadata.Backend      = (*Client)(nil)
	_ metadata.Compactor    = (*Client)(nil)
	_ metadata.TopicUpdater = (*Client)(nil)
	_ metadata.Membership   = (*Client)(nil)
)

// NewClient returns a Client calling the MetadataBackend service over cc.
// The Client does not own cc: closing it is the caller's business.
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewMetadataBackendClient(cc), streams: map[*context.CancelCauseFunc]struct{}{}}
}

// Close ends the client's open Watch streams (each delivers a last batch
// with Err ErrClientClosed, unless its ctx has ended, and closes) and makes
// later calls fail with ErrClientClosed; calls in flight finish normally. It
// neither closes the remote backend nor the connection. Idempotent; always
// returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	streams := c.streams
	c.streams = map[*context.CancelCauseFunc]struct{}{}
	c.mu.Unlock()
	for cancel := range streams {
		(*cancel)(ErrClientClosed)
	}
	return nil
}

func (c *Client) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClientClosed
	}
	return nil
}

// Configure sends the node's configuration; it is the first RPC of a
// plugin. Repeating it with the same configuration is a no-op; a different
// one fails with metadata.ErrInvalid, as does Configure of a server that
// serves an already-configured backend (RegisterBackend).
func (c *Client) Configure(ctx context.Context, cfg metadata.Config) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Config: toPBConfig(cfg)})
	return fromStatus(ctx, err)
}

// Info implements metadata.Backend. Before Configure it describes the
// plugin (name, version, capabilities).
func (c *Client) Info(ctx context.Context) (metadata.Info, error) {
	if err := c.check(); err != nil {
		return metadata.Info{}, err
	}
	resp, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return metadata.Info{}, fromStatus(ctx, err)
	}
	return fromPBInfo(resp.GetInfo()), nil
}

// RegisterBroker implements metadata.Backend.
func (c *Client) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	if err := c.check(); err != nil {
		return metadata.Broker{}, err
	}
	resp, err := c.rpc.RegisterBroker(ctx, &pb.RegisterBrokerRequest{Registration: toPBRegistration(reg)})
	if err != nil {
		return metadata.Broker{}, fromStatus(ctx, err)
	}
	return fromPBBroker(resp.GetBroker()), nil
}

// Heartbeat implements metadata.Backend.
func (c *Client) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	if err := c.check(); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	resp, err := c.rpc.Heartbeat(ctx, &pb.HeartbeatRequest{BrokerId: id, Epoch: epoch})
	if err != nil {
		return metadata.HeartbeatResult{}, fromStatus(ctx, err)
	}
	return metadata.HeartbeatResult{Epoch: resp.GetEpoch(), SessionTimeout: durationNs(resp.GetSessionTimeoutNs())}, nil
}

// UnregisterBroker implements metadata.Backend.
func (c *Client) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.UnregisterBroker(ctx, &pb.UnregisterBrokerRequest{BrokerId: id, Epoch: epoch})
	return fromStatus(ctx, err)
}

// CreateTopic implements metadata.Backend.
func (c *Client) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	if err := c.check(); err != nil {
		return metadata.Topic{}, err
	}
	resp, err := c.rpc.CreateTopic(ctx, &pb.CreateTopicRequest{Spec: toPBTopicSpec(spec)})
	if err != nil {
		return metadata.Topic{}, fromStatus(ctx, err)
	}
	t, err := fromPBTopic(resp.GetTopic())
	if err != nil {
		return metadata.Topic{}, fmt.Errorf("plugins: CreateTopic: bad response: %w", err)
	}
	return t, nil
}

// DeleteTopic implements metadata.Backend.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: name})
	return fromStatus(ctx, err)
}

// AlterPartition implements metadata.Backend.
func (c *Client) AlterPartition(ctx context.Context, change metadata.PartitionChange) (metadata.Partition, error) {
	if err := c.check(); err != nil {
		return metadata.Partition{}, err
	}
	resp, err := c.rpc.AlterPartition(ctx, &pb.AlterPartitionRequest{Change: toPBPartitionChange(change)})
	if err != nil {
		return metadata.Partition{}, fromStatus(ctx, err)
	}
	return fromPBPartition(resp.GetPartition()), nil
}

// AllocateProducerIDs implements metadata.Backend.
func (c *Client) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	resp, err := c.rpc.AllocateProducerIDs(ctx, &pb.AllocateProducerIDsRequest{Count: int64(n)})
	if err != nil {
		return 0, fromStatus(ctx, err)
	}
	return resp.GetFirst(), nil
}

// Snapshot implements metadata.Backend.
func (c *Client) Snapshot(ctx context.Context) (metadata.State, error) {
	if err := c.check(); err != nil {
		return metadata.State{}, err
	}
	resp, err := c.rpc.Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return metadata.State{}, fromStatus(ctx, err)
	}
	st, err := fromPBState(resp.GetState())
	if err != nil {
		return metadata.State{}, fmt.Errorf("plugins: Snapshot: bad response: %w", err)
	}
	return st, nil
}

// Compact implements metadata.Compactor; metadata.ErrUnsupported if the
// backend is not a Compactor.
func (c *Client) Compact(ctx context.Context, rev metadata.Revision) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.Compact(ctx, &pb.CompactRequest{Revision: int64(rev)})
	return fromStatus(ctx, err)
}

// AddMember implements metadata.Membership; metadata.ErrUnsupported if the
// backend does not implement it.
func (c *Client) AddMember(ctx context.Context, m metadata.Member) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.AddMember(ctx, &pb.AddMemberRequest{Member: toPBMember(m)})
	return fromStatus(ctx, err)
}

// RemoveMember implements metadata.Membership; metadata.ErrUnsupported if
// the backend does not implement it.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.rpc.RemoveMember(ctx, &pb.RemoveMemberRequest{Id: id})
	return fromStatus(ctx, err)
}

// Watch implements metadata.Backend. It returns once the server confirmed
// the start of the watch, so a failure to start (ErrCompacted,
// ErrNotConfigured...) is returned here rather than as an Err batch.
//
// The channel is fed by one goroutine, which ends, closing the channel,
// when ctx ends (no Err batch), or after delivering one last batch with
// Err when the stream fails: the server's error as its sentinel, a
// transport failure wrapping metadata.ErrUnavailable, ErrClientClosed after
// Close. Batches are never dropped: the goroutine waits for the consumer,
// who must receive until the channel closes or end ctx.
func (c *Client) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel(ErrClientClosed)
		return nil, ErrClientClosed
	}
	c.streams[&cancel] = struct{}{}
	c.mu.Unlock()
	stop := func() {
		c.mu.Lock()
		delete(c.streams, &cancel)
		c.mu.Unlock()
		cancel(context.Canceled)
	}

	stream, err := c.startWatch(ctx, sctx, from)
	if err != nil {
		stop()
		return nil, err
	}
	out := make(chan metadata.WatchBatch)
	go func() {
		defer close(out)
		defer stop()
		for {
			m, err := stream.Recv()
			var batch metadata.WatchBatch
			if err == nil {
				batch, err = fromPBWatchBatch(m)
				if err != nil {
					err = fmt.Errorf("plugins: Watch: bad batch: %w", err)
				}
			} else {
				err = watchStreamError(ctx, sctx, err)
			}
			if err != nil {
				if ctx.Err() != nil {
					return // ended by the caller: no Err batch
				}
				batch = metadata.WatchBatch{Err: err}
			}
			select {
			case out <- batch:
				if batch.Err != nil {
					return
				}
			case <-sctx.Done():
				if ctx.Err() != nil {
					return
				}
				// Closed by Client.Close: the consumer gets the reason.
				select {
				case out <- metadata.WatchBatch{Err: context.Cause(sctx)}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
	return out, nil
}

// startWatch opens the stream on sctx and waits for the server's
// confirmation that the backend's watch started.
func (c *Client) startWatch(ctx, sctx context.Context, from metadata.Revision) (grpc.ServerStreamingClient[pb.WatchBatch], error) {
	stream, err := c.rpc.Watch(sctx, &pb.WatchRequest{From: int64(from)})
	if err != nil {
		return nil, watchStreamError(ctx, sctx, err)
	}
	md, err := stream.Header()
	if err == nil && len(md.Get(watchStartedKey)) > 0 {
		return stream, nil
	}
	// No confirmation: the stream ended before the watch started, and
	// Recv returns how.
	if err == nil {
		_, err = stream.Recv()
		if err == nil {
			err = fmt.Errorf("plugins: Watch: server sent a batch without confirming the start: %w", metadata.ErrUnavailable)
		}
	}
	return nil, watchStreamError(ctx, sctx, err)
}

// watchStreamError maps an error of a Watch stream opened with sctx (a
// child of the caller's ctx).
func watchStreamError(ctx, sctx context.Context, err error) error {
	if errors.Is(context.Cause(sctx), ErrClientClosed) && ctx.Err() == nil {
		return ErrClientClosed
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("plugins: Watch: the server ended the stream without a status: %w", metadata.ErrUnavailable)
	}
	return fromStatus(ctx, err)
}

// AddPartitions implements metadata.TopicUpdater; metadata.ErrUnsupported if
// the backend does not implement it.
func (c *Client) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	if err := c.check(); err != nil {
		return metadata.Topic{}, err
	}
	resp, err := c.rpc.AddPartitions(ctx, &pb.AddPartitionsRequest{Topic: topic, ExpectedCount: expectedCount, Partitions: toPBPartitionSpecs(parts)})
	if err != nil {
		return metadata.Topic{}, fromStatus(ctx, err)
	}
	return fromPBTopic(resp.GetTopic())
}

// SetTopicConfigs implements metadata.TopicUpdater (a compare-and-set on
// the topic's configs, expected carried as expected_configs; a plugin built
// before that field ignores it and replaces unconditionally);
// metadata.ErrUnsupported if the backend does not implement it.
func (c *Client) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	if err := c.check(); err != nil {
		return metadata.Topic{}, err
	}
	resp, err := c.rpc.SetTopicConfigs(ctx, &pb.SetTopicConfigsRequest{Topic: topic, Configs: configs, ExpectedConfigs: expected})
	if err != nil {
		return metadata.Topic{}, fromStatus(ctx, err)
	}
	return fromPBTopic(resp.GetTopic())
}
