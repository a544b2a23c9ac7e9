package etcdmeta_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestClusterID: the first Snapshot under a prefix creates its cluster id,
// once, even when several backends race to; a prefix written before
// cluster ids (contract keys, no id) gets one and keeps its state; another
// prefix is another cluster with another id; a malformed stored id is
// never answered.
func TestClusterID(t *testing.T) {
	ec := startEtcd(t, 1)
	ctx := ctxFor(t, time.Minute)
	admin := ec.Client()

	// Racing first Snapshots agree.
	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		b := newBackend(t, ec.Endpoints(), "/race/")
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := b.Snapshot(ctx)
			ids[i], errs[i] = st.ClusterID, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("backend %d: Snapshot: %v", i, errs[i])
		}
		if err := metadata.ValidateClusterID(ids[i]); err != nil || ids[i] != ids[0] {
			t.Fatalf("racing Snapshots answered cluster ids %q", ids)
		}
	}
	stored, err := admin.Get(ctx, "/race/cluster-id")
	if err != nil || len(stored.Kvs) != 1 || string(stored.Kvs[0].Value) != ids[0] || stored.Kvs[0].Version != 1 {
		t.Fatalf("stored cluster id: %+v, %v; want %q written once", stored.Kvs, err, ids[0])
	}

	// A prefix as a build without cluster ids leaves it.
	old := newBackend(t, ec.Endpoints(), "/old/")
	if _, err := old.CreateTopic(ctx, spec("kept", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Delete(ctx, "/old/cluster-id"); err != nil {
		t.Fatal(err)
	}
	reopened := newBackend(t, ec.Endpoints(), "/old/")
	st, err := reopened.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.ValidateClusterID(st.ClusterID); err != nil || st.ClusterID == ids[0] {
		t.Fatalf("old prefix: cluster id %q (%v), want a new one, not %q", st.ClusterID, err, ids[0])
	}
	if _, ok := st.Topics["kept"]; !ok {
		t.Fatalf("old prefix lost its topic: %+v", st.Topics)
	}
	if again, err := old.Snapshot(ctx); err != nil || again.ClusterID != st.ClusterID {
		t.Fatalf("the other backend of the old prefix: %q, %v; want %q", again.ClusterID, err, st.ClusterID)
	}

	// A malformed stored id fails Snapshot (no wrong answer).
	if _, err := admin.Put(ctx, "/bad/cluster-id", "not-a-cluster-id"); err != nil {
		t.Fatal(err)
	}
	bad := newBackend(t, ec.Endpoints(), "/bad/")
	if _, err := bad.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot over a malformed cluster id: %v, want ErrUnavailable", err)
	}
}
