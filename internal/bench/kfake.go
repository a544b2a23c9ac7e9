package bench

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KfakeConfig configures the reference peer: franz-go's kfake, one broker.
type KfakeConfig struct {
	// Listen is the Kafka listen address (host:port; port 0 picks one).
	Listen string
	// DataDir, if set, persists the log on disk (kfake.DataDir).
	DataDir string
	// SyncWrites fsyncs every write (kfake.SyncWrites), the peer of
	// chronik's --log.flush=always.
	SyncWrites bool
}

// RunKfake runs a one-broker kfake cluster until ctx ends, calling ready
// with its listen address once it accepts connections. It returns nil after
// a clean stop, or the error that prevented the start.
func RunKfake(ctx context.Context, c KfakeConfig, ready func(addr string)) error {
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, network, listen)
		}),
		kfake.AllowAutoTopicCreation(),
	}
	if c.DataDir != "" {
		opts = append(opts, kfake.DataDir(c.DataDir))
	}
	if c.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("bench: starting kfake: %w", err)
	}
	if ready != nil {
		ready(cl.ListenAddrs()[0])
	}
	<-ctx.Done()
	cl.Close()
	return nil
}
