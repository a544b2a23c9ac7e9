package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/chronik-go/chronik/plugins/metadata"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is the go-plugin handshake of chronik metadata plugins. A host
// and a plugin must agree on it; ProtocolVersion changes only with an
// incompatible change of the MetadataBackend service.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CHRONIK_METADATA_PLUGIN",
	MagicCookieValue: "a7e1c3f0-5b2d-4e8a-9c61-chronik-metadata",
}

// PluginName is the key of the metadata plugin in go-plugin's PluginSet.
const PluginName = "metadata"

// LogLevelEnv names the environment variable with the hclog level of a
// plugin process's logger (trace, debug, info, warn, error; default info).
const LogLevelEnv = "CHRONIK_PLUGIN_LOG_LEVEL"

// GRPCPlugin is the go-plugin plugin.GRPCPlugin of chronik metadata
// backends. On the plugin side it serves Factory (RegisterFactory); on the
// host side GRPCClient returns a *Client and Factory is unused:
//
//	plugin.ClientConfig{..., Plugins: map[string]plugin.Plugin{PluginName: &GRPCPlugin{}}}
//
// Use it by pointer.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Factory builds the backend (plugin side only).
	Factory Factory

	mu      sync.Mutex
	closers []io.Closer // one per GRPCServer call
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the MetadataBackend service serving p.Factory on s.
// go-plugin calls it once per server it starts.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Factory.New == nil {
		return errors.New("plugins: GRPCPlugin.Factory.New is nil")
	}
	closer := RegisterFactory(s, p.Factory)
	p.mu.Lock()
	p.closers = append(p.closers, closer)
	p.mu.Unlock()
	return nil
}

// GRPCClient returns a *Client over cc. go-plugin owns cc.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return NewClient(cc), nil
}

// closeBackends closes the backends built by the servers of p.
func (p *GRPCPlugin) closeBackends() error {
	p.mu.Lock()
	closers := p.closers
	p.closers = nil
	p.mu.Unlock()
	var errs []error
	for _, c := range closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Serve runs a plugin process serving the MetadataBackend service built
// from f; call it from main. It speaks go-plugin's gRPC protocol only, with
// Handshake (it exits with an explanation when not started by a chronik
// host), AutoMTLS when the host asks for it, and logs through an hclog JSON
// logger on stderr, which the host routes into its own log (level from
// CHRONIK_PLUGIN_LOG_LEVEL, default info).
//
// Serve blocks until the host ends the plugin (go-plugin's shutdown RPC, or
// SIGTERM, which stops the gRPC server), then closes the configured backend
// and returns. SIGINT is ignored (go-plugin's convention: the host decides).
func Serve(f Factory) {
	level := hclog.LevelFromString(os.Getenv(LogLevelEnv))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "chronik-metadata-" + f.Name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	if f.New == nil {
		fmt.Fprintln(os.Stderr, "plugins.Serve: Factory.New is nil")
		os.Exit(1)
	}

	// The backend's slog logger writes hclog-shaped JSON to the real stderr,
	// captured now: go-plugin redirects os.Stderr once it serves.
	slogger := newPluginSlogger(os.Stderr, slogLevelFromHCLog(os.Getenv(LogLevelEnv)), "chronik-metadata-"+f.Name)
	newBackend := f.New
	f.New = func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
		return newBackend(WithLogger(ctx, slogger), cfg)
	}
	p := &GRPCPlugin{Factory: f}
	var (
		mu         sync.Mutex
		srv        *grpc.Server
		terminated bool
	)
	stopServer := func() {
		mu.Lock()
		terminated = true
		s := srv
		mu.Unlock()
		if s != nil {
			s.Stop()
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sigs:
			logger.Info("received SIGTERM, stopping")
			stopServer()
		case <-done:
		}
	})

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: p},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			s := plugin.DefaultGRPCServer(opts)
			mu.Lock()
			srv = s
			stop := terminated
			mu.Unlock()
			if stop {
				s.Stop()
			}
			return s
		},
		Logger: logger,
	})

	signal.Stop(sigs)
	close(done)
	wg.Wait()
	if err := p.closeBackends(); err != nil {
		logger.Error("closing backend", "error", err)
		return
	}
	logger.Debug("backend closed")
}
