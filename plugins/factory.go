package plugins

import (
	"context"
	"io"

	"google.golang.org/grpc"

	"github.com/chronik-go/chronik/plugins/internal/pb"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Factory builds a backend node; it is what a plugin author hands to Serve.
type Factory struct {
	// Name and Version identify the backend (Info before Configure).
	Name    string
	Version string
	// Capabilities are the optional parts of the contract the backend
	// implements (Info before Configure).
	Capabilities []metadata.Capability
	// New builds this node's backend from its configuration; called by the
	// first Configure, at most once at a time. ctx is the Configure call's:
	// it bounds the construction only and must not be kept by the backend.
	// An error leaves the node unconfigured (Configure may be retried) and
	// reaches the host with its sentinel, if any. Logger(ctx) is the
	// logger the backend should keep: under Serve its lines reach the host's
	// log.
	New func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error)
}

// RegisterFactory registers the MetadataBackend service on s. The first
// Configure call builds the backend with f.New; a second Configure with the
// same config is a no-op, a different one fails with metadata.ErrInvalid.
// Calls before Configure fail with metadata.ErrNotConfigured, except Info,
// which answers f's Name, Version and Capabilities. It panics if f.New is
// nil (a programming error).
//
// The returned closer closes the built backend (if any) and makes later
// calls fail with metadata.ErrUnavailable; a Configure still running when it
// is called closes its new backend itself. Call it after stopping s. It is
// idempotent and returns the backend's Close error.
func RegisterFactory(s grpc.ServiceRegistrar, f Factory) io.Closer {
	if f.New == nil {
		panic("plugins: RegisterFactory: Factory.New is nil")
	}
	srv := &server{factory: &f}
	pb.RegisterMetadataBackendServer(s, srv)
	return srv
}
