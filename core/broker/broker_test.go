package broker

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBroker starts a broker on loopback ports (HTTP too) over a fresh
// memory store, without waiting until it is ready.
func startBroker(t *testing.T, id int32, store *memory.Store) *Broker {
	t.Helper()
	return launchBroker(t, id, store.Node("broker"), func(c *Config) { c.HTTPAddr = "127.0.0.1:0" })
}

// launchBroker starts broker id over backend with its Kafka listener on a
// loopback port and no HTTP listener, its configuration adjusted by adjust
// (may be nil), and closes it at the end of the test.
func launchBroker(t *testing.T, id int32, backend metadata.Backend, adjust func(*Config)) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BrokerID = id
	cfg.DataDir = t.TempDir()
	cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.HTTPAddr = ""
	if adjust != nil {
		adjust(&cfg)
	}
	b, err := New(cfg, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newStore(t *testing.T) *memory.Store {
	t.Helper()
	cfg := memory.DefaultConfig()
	cfg.SessionTimeout = 2 * time.Second
	st, err := memory.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestBrokerServesKafkaAndHTTP(t *testing.T) {
	st := newStore(t)
	b := startBroker(t, 1, st)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if code, body := httpGet(t, "http://"+b.HTTPAddr()+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q after WaitReady", code, body)
	}
	if code, _ := httpGet(t, "http://"+b.HTTPAddr()+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions = %+v, %v", resp, err)
	}
	if code, body := httpGet(t, "http://"+b.HTTPAddr()+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "chronik_") {
		t.Fatalf("/metrics = %d, body lacks go and chronik metrics:\n%.2000s", code, body)
	}
}

func TestReadyzNotReadyWithoutBackend(t *testing.T) {
	st := newStore(t)
	_ = st.Close() // the backend is gone: the broker starts but never registers
	b := startBroker(t, 1, st)
	if b.Addr() == "" {
		t.Fatal("the listener did not open without a backend")
	}
	if code, _ := httpGet(t, "http://"+b.HTTPAddr()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d without a backend, want 503", code)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BrokerID = -1
	cfg.DataDir = ""
	cfg.HTTPAddr = "nope"
	cfg.Server.AdvertisedAddr = "0.0.0.0:9092"
	err := cfg.Validate()
	for _, want := range []string{"broker id -1", "data dir", "http address", "0.0.0.0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
}
