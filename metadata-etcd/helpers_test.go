package etcdmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// testLogger logs at debug to stderr when CHRONIK_TEST_LOG is set, else
// discards.
func testLogger() *slog.Logger {
	if os.Getenv("CHRONIK_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newBackend starts a backend on endpoints with the given prefix, closed by
// the test's cleanup.
func newBackend(t testing.TB, endpoints []string, prefix string, mods ...func(*etcdmeta.Config)) *etcdmeta.Backend {
	t.Helper()
	cfg := etcdmeta.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("node-%d", time.Now().UnixNano()%1000)
	cfg.Endpoints = endpoints
	cfg.Prefix = prefix
	cfg.SessionTimeout = time.Second
	cfg.Logger = testLogger()
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := etcdmeta.New(ctx, cfg)
	if err != nil {
		t.Fatalf("etcdmeta.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f until it returns nil or d elapses.
func eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startEtcd(t testing.TB, members int) *etcdtest.Cluster {
	t.Helper()
	return etcdtest.Start(t, etcdtest.Options{Members: members})
}

func reg(id int32, inc string) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: id, IncarnationID: inc,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}, Rack: "r1"}
}

func spec(name string, partitions int) metadata.TopicSpec {
	s := metadata.TopicSpec{Name: name, Configs: map[string]string{"retention.ms": "1000"}}
	copy(s.ID[:], strings.Repeat("x", 16))
	s.ID[0] = byte(len(name))
	for p := range partitions {
		r := []int32{int32(p % 3), int32((p + 1) % 3), int32((p + 2) % 3)}
		s.Partitions = append(s.Partitions, metadata.PartitionSpec{Replicas: r, Leader: r[0]})
	}
	return s
}
