package memory

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago (the holder must listen on an address the other nodes know).
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	mustOK(t, err)
	addr := lis.Addr().String()
	mustOK(t, lis.Close())
	return addr
}

func newNode(t *testing.T, cfg metadata.Config) metadata.Backend {
	t.Helper()
	b, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func pluginPeers(t *testing.T) []metadata.Peer {
	return []metadata.Peer{{ID: "a", Address: freeAddr(t)}, {ID: "b", Address: freeAddr(t)}, {ID: "c", Address: freeAddr(t)}}
}

func nodeConfig(peers []metadata.Peer, id string) metadata.Config {
	return metadata.Config{NodeID: id, Peers: peers, SessionTimeout: 200 * time.Millisecond}
}

func TestPluginCluster(t *testing.T) {
	ctx := testCtx(t)
	peers := pluginPeers(t)
	nodes := []metadata.Backend{
		newNode(t, nodeConfig(peers, "a")),
		newNode(t, nodeConfig(peers, "b")),
		newNode(t, nodeConfig(peers, "c")),
	}
	for i, n := range nodes {
		in, err := n.Info(ctx)
		mustOK(t, err)
		if in.NodeID != peers[i].ID || in.Leader != "a" || len(in.Members) != 3 || in.Members[2].Address != peers[2].Address ||
			in.Name != Name || !in.Has(metadata.CapCompact) {
			t.Fatalf("node %d: info %+v", i, in)
		}
	}
	st, err := nodes[2].Snapshot(ctx)
	mustOK(t, err)
	if st.Revision <= 0 {
		t.Fatalf("initial revision %d: want the clock", st.Revision)
	}
	w, err := nodes[2].Watch(ctx, st.Revision)
	mustOK(t, err)

	// A registration through one proxy is one cluster-wide fact.
	b, err := nodes[1].RegisterBroker(ctx, reg(1, "x"))
	mustOK(t, err)
	_, err = nodes[0].RegisterBroker(ctx, reg(1, "y"))
	mustErr(t, err, metadata.ErrDuplicateBroker)
	_, err = nodes[2].Heartbeat(ctx, 1, b.Epoch+1)
	mustErr(t, err, metadata.ErrStaleEpoch)
	if got := nextBatch(t, w); got.Revision != metadata.Revision(b.Epoch) || got.Events[0].Broker.ID != 1 {
		t.Fatalf("watch on node c: %s", describe(got))
	}
	// The session times out without heartbeats, seen on every node.
	fence := nextBatch(t, w)
	if fence.Events[0].Type != metadata.EventBrokerFenced {
		t.Fatalf("watch on node c: %s, want the fence", describe(fence))
	}
	_, err = nodes[1].Heartbeat(ctx, 1, b.Epoch)
	mustErr(t, err, metadata.ErrFenced)
	compactor, ok := nodes[1].(metadata.Compactor)
	if !ok {
		t.Fatalf("proxy node is not a Compactor")
	}
	mustOK(t, compactor.Compact(ctx, fence.Revision))
	_, err = nodes[0].Watch(ctx, st.Revision)
	mustErr(t, err, metadata.ErrCompacted)

	// Closing a proxy ends its watches and leaves the others working.
	mustOK(t, nodes[2].Close())
	endsWith(t, w, metadata.ErrUnavailable)
	_, err = nodes[1].AllocateProducerIDs(ctx, 3)
	mustOK(t, err)
}

func TestPluginHolderDown(t *testing.T) {
	ctx := testCtx(t)
	peers := pluginPeers(t)
	holder, err := New(ctx, nodeConfig(peers, "a"))
	mustOK(t, err)
	proxy := newNode(t, nodeConfig(peers, "b"))
	st, err := proxy.Snapshot(ctx)
	mustOK(t, err)
	w, err := proxy.Watch(ctx, st.Revision)
	mustOK(t, err)

	mustOK(t, holder.Close())
	endsWith(t, w, metadata.ErrUnavailable)
	for name, call := range map[string]func(context.Context) error{
		"Snapshot": func(ctx context.Context) error { _, err := proxy.Snapshot(ctx); return err },
		"Register": func(ctx context.Context) error { _, err := proxy.RegisterBroker(ctx, reg(1, "a")); return err },
		"Info":     func(ctx context.Context) error { _, err := proxy.Info(ctx); return err },
		"Watch":    func(ctx context.Context) error { _, err := proxy.Watch(ctx, 0); return err },
	} {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		start := time.Now()
		err := call(cctx)
		cancel()
		if !errors.Is(err, metadata.ErrUnavailable) || time.Since(start) > 2*time.Second {
			t.Fatalf("%s with the holder down: %v after %v", name, err, time.Since(start))
		}
	}

	// A new holder on the same address: the proxy reconnects to an empty
	// store whose revisions are above the old ones.
	holder2 := newNode(t, nodeConfig(peers, "a"))
	eventually(t, "proxy reconnects", func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := proxy.Snapshot(cctx)
		return err == nil
	})
	st2, err := holder2.Snapshot(ctx)
	mustOK(t, err)
	if st2.Revision <= st.Revision {
		t.Fatalf("restarted holder at revision %d, not above %d", st2.Revision, st.Revision)
	}
	_, err = proxy.Watch(ctx, st.Revision)
	mustErr(t, err, metadata.ErrCompacted)
}

func TestPluginSingleNode(t *testing.T) {
	ctx := testCtx(t)
	for _, cfg := range []metadata.Config{
		{NodeID: "solo"},
		{NodeID: "solo", Peers: []metadata.Peer{{ID: "solo"}}},
		{NodeID: "solo", Settings: map[string]string{SettingInitialRevision: "0", SettingHistory: "2"}},
	} {
		n := newNode(t, cfg)
		for range 3 {
			_, err := n.AllocateProducerIDs(ctx, 1)
			mustOK(t, err)
		}
		in, err := n.Info(ctx)
		mustOK(t, err)
		if in.NodeID != "solo" || in.Leader != "solo" {
			t.Fatalf("info %+v", in)
		}
		if cfg.Settings != nil {
			if r := revision(t, n); r != 3 {
				t.Fatalf("revision %d with initial-revision 0", r)
			}
			_, err := n.Watch(ctx, 0) // history of 2 batches: 1 is gone
			mustErr(t, err, metadata.ErrCompacted)
		}
		mustOK(t, n.Close())
		_, err = n.Snapshot(ctx)
		mustErr(t, err, metadata.ErrUnavailable)
	}
}

func TestPluginConfigInvalid(t *testing.T) {
	ctx := testCtx(t)
	peers := []metadata.Peer{{ID: "a", Address: "127.0.0.1:1"}, {ID: "b", Address: "127.0.0.1:2"}}
	for _, tc := range []struct {
		name string
		cfg  metadata.Config
	}{
		{"node not a peer", metadata.Config{NodeID: "z", Peers: peers}},
		{"holder without address", metadata.Config{NodeID: "b", Peers: []metadata.Peer{{ID: "a"}, {ID: "b"}}}},
		{"unknown setting", metadata.Config{NodeID: "a", Settings: map[string]string{"histroy": "5"}}},
		{"bad history", metadata.Config{NodeID: "a", Settings: map[string]string{SettingHistory: "0"}}},
		{"bad initial revision", metadata.Config{NodeID: "a", Settings: map[string]string{SettingInitialRevision: "-3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(ctx, tc.cfg)
			if err == nil {
				b.Close()
			}
			mustErr(t, err, metadata.ErrInvalid)
		})
	}
	t.Run("address in use", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		mustOK(t, err)
		defer lis.Close()
		_, err = New(ctx, metadata.Config{NodeID: "a", Peers: []metadata.Peer{{ID: "a", Address: lis.Addr().String()}}})
		mustErr(t, err, metadata.ErrUnavailable)
	})
}
