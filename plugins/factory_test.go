package plugins

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// countingFactory builds fake backends and remembers them.
type countingFactory struct {
	mu      sync.Mutex
	built   []*fakeBackend
	configs []metadata.Config
	fail    error
}

func (cf *countingFactory) factory() Factory {
	return Factory{Name: "fake", Version: "9.9", Capabilities: []metadata.Capability{metadata.CapCompact},
		New: func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
			cf.mu.Lock()
			defer cf.mu.Unlock()
			if cf.fail != nil {
				return nil, cf.fail
			}
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("Configure's ctx has no deadline")
			}
			fb := newFakeBackend()
			fb.info.NodeID = cfg.NodeID
			cf.built = append(cf.built, fb)
			cf.configs = append(cf.configs, cfg)
			return fb, nil
		}}
}

func TestFactoryConfigure(t *testing.T) {
	cf := &countingFactory{}
	var closer interface{ Close() error }
	cc := serveTest(t, func(s *grpc.Server) { closer = RegisterFactory(s, cf.factory()) })
	c := NewClient(cc)
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)

	// Before Configure: Info describes the plugin, everything else fails.
	info, err := c.Info(ctx)
	want := metadata.Info{Name: "fake", Version: "9.9", Capabilities: []metadata.Capability{metadata.CapCompact}}
	if err != nil || !reflect.DeepEqual(info, want) {
		t.Fatalf("Info before Configure = %+v, %v; want %+v", info, err, want)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrNotConfigured) {
		t.Fatalf("Snapshot before Configure: %v", err)
	}
	if _, err := c.Watch(ctx, 0); !errors.Is(err, metadata.ErrNotConfigured) {
		t.Fatalf("Watch before Configure: %v", err)
	}
	if err := c.Compact(ctx, 1); !errors.Is(err, metadata.ErrNotConfigured) {
		t.Fatalf("Compact before Configure: %v", err)
	}

	// A failing New leaves it unconfigured, with the error's sentinel.
	cf.fail = fmt.Errorf("cannot open data dir: %w", metadata.ErrInvalid)
	if err := c.Configure(ctx, metadata.Config{NodeID: "n1"}); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("Configure with failing New: %v", err)
	}
	cf.fail = nil

	cfg := metadata.Config{NodeID: "n1", DataDir: t.TempDir(), Settings: map[string]string{"a": "b"},
		Peers: []metadata.Peer{{ID: "n1", Address: "127.0.0.1:1"}}}
	if err := c.Configure(ctx, cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := c.Configure(ctx, cfg); err != nil {
		t.Fatalf("Configure again with the same config: %v", err)
	}
	other := cfg
	other.NodeID = "n2"
	if err := c.Configure(ctx, other); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("Configure with another config: %v, want ErrInvalid", err)
	}
	if len(cf.built) != 1 || !reflect.DeepEqual(cf.configs[0], cfg) {
		t.Fatalf("New called %d times with %+v, want once with %+v", len(cf.built), cf.configs, cfg)
	}
	info, err = c.Info(ctx)
	if err != nil || info.NodeID != "n1" {
		t.Fatalf("Info after Configure = %+v, %v; want the backend's", info, err)
	}
	if _, err := c.AllocateProducerIDs(ctx, 5); err != nil {
		t.Fatalf("AllocateProducerIDs: %v", err)
	}
	if err := c.Compact(ctx, 1); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	// The closer closes the backend; later calls fail with ErrUnavailable.
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if !cf.built[0].closed {
		t.Fatal("closer did not close the backend")
	}
	if err := closer.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after close: %v", err)
	}
	if err := c.Configure(ctx, cfg); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Configure after close: %v", err)
	}
}

// plainBackend hides fakeBackend's optional interfaces.
type plainBackend struct{ metadata.Backend }

func TestOptionalInterfacesUnsupported(t *testing.T) {
	c := newTestClient(t, plainBackend{newFakeBackend()})
	ctx := testCtx(t)
	if err := c.Compact(ctx, 1); !errors.Is(err, metadata.ErrUnsupported) {
		t.Errorf("Compact on a backend without it: %v, want ErrUnsupported", err)
	}
	if err := c.AddMember(ctx, metadata.Member{ID: "x"}); !errors.Is(err, metadata.ErrUnsupported) {
		t.Errorf("AddMember on a backend without it: %v, want ErrUnsupported", err)
	}
	if err := c.RemoveMember(ctx, "x"); !errors.Is(err, metadata.ErrUnsupported) {
		t.Errorf("RemoveMember on a backend without it: %v, want ErrUnsupported", err)
	}
}

func TestRegisterFactoryNilNew(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("RegisterFactory with a nil New did not panic")
		}
	}()
	RegisterFactory(grpc.NewServer(), Factory{Name: "x"})
}
