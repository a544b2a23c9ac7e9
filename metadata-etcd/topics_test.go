package etcdmeta_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestLargeTopicAtomic creates a topic of 5000 partitions against an etcd
// with its default limits (128 operations per transaction, 1.5 MiB per
// request): one transaction, one revision, one TopicCreated on every node.
func TestLargeTopicAtomic(t *testing.T) {
	ec := startEtcd(t, 3)
	a := newBackend(t, ec.Endpoints(), "/big/")
	b := newBackend(t, ec.Endpoints(), "/big/")
	ctx := ctxFor(t, time.Minute)
	s0, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, b, s0.Revision)
	const n = 5000
	began := time.Now()
	tp, err := a.CreateTopic(ctx, spec("big", n))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d partitions in %v", n, time.Since(began).Round(time.Millisecond))
	bs := w.until(tp.CreatedAt, 10*time.Second)
	if len(bs) != 1 || bs[0].Revision != tp.CreatedAt || len(bs[0].Events) != 1 || bs[0].Events[0].Type != metadata.EventTopicCreated {
		t.Fatalf("creation delivered as %d batches, first %+v", len(bs), bs[0].Revision)
	}
	if got := bs[0].Events[0].Topic; len(got.Partitions) != n || got.CreatedAt != tp.CreatedAt {
		t.Fatalf("TopicCreated holds %d partitions created at %d", len(got.Partitions), got.CreatedAt)
	}
	admin := ec.Client()
	keys, err := admin.Get(ctx, "/big/partitions/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Kvs) != 125 {
		t.Errorf("%d partition keys, want 125 chunks of 40", len(keys.Kvs))
	}
	for _, kv := range keys.Kvs {
		if kv.ModRevision != int64(tp.CreatedAt) {
			t.Fatalf("key %s written at %d, not with the topic at %d", kv.Key, kv.ModRevision, tp.CreatedAt)
		}
	}
	// Concurrent changes of neighbours in one chunk (partitions 40..79
	// share a key) all succeed; each is one PartitionChanged.
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range len(errs) {
		wg.Go(func() {
			p := int32(40 + i)
			node := a
			if i%2 == 1 {
				node = b
			}
			_, errs[i] = node.AlterPartition(ctx, metadata.PartitionChange{Topic: "big", Partition: p,
				ExpectedPartitionEpoch: 0, Leader: tp.Partitions[p].Replicas[1], ISR: tp.Partitions[p].Replicas[1:]})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("AlterPartition(big/%d): %v", 40+i, err)
		}
	}
	last, err := a.AlterPartition(ctx, metadata.PartitionChange{Topic: "big", Partition: n - 1, Leader: metadata.NoLeader})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AlterPartition(ctx, metadata.PartitionChange{Topic: "big", Partition: n - 1, Leader: metadata.NoLeader}); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("stale change of big/%d: %v", n-1, err)
	}
	if _, err := a.AlterPartition(ctx, metadata.PartitionChange{Topic: "big", Partition: n, Leader: metadata.NoLeader}); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("change of big/%d: %v", n, err)
	}
	st, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Topics["big"].Partitions[n-1]; got.PartitionEpoch != 1 || got.Leader != metadata.NoLeader || got.LeaderEpoch != last.LeaderEpoch {
		t.Fatalf("big/%d in the snapshot: %+v", n-1, got)
	}
	bs = w.until(st.Revision, 10*time.Second)
	replay(t, "watch of the large topic", s0, bs, st)
	if err := b.DeleteTopic(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	keys, err = admin.Get(ctx, "/big/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	// Left: the producer-id-less cluster's changed key and its cluster id.
	if keys.Count != 2 {
		t.Errorf("%d keys left under the prefix after deleting the topic, want 2 (changed, cluster-id)", keys.Count)
	}
}

// TestTransactionLimits: a server with a low --max-txn-ops and
// --max-request-bytes. A backend configured with the server's limits
// chunks accordingly; one configured above them gets ErrInvalid from etcd;
// a topic too large for any request is refused before it is sent.
func TestTransactionLimits(t *testing.T) {
	ec := etcdtest.Start(t, etcdtest.Options{Members: 1, Configure: func(_ int, cfg *embed.Config) {
		cfg.MaxTxnOps = 16
		cfg.MaxRequestBytes = 64 * 1024
	}})
	ctx := ctxFor(t, time.Minute)
	fit := newBackend(t, ec.Endpoints(), "/limits/", func(c *etcdmeta.Config) {
		c.MaxTxnOps, c.MaxRequestBytes = 16, 64*1024
	})
	tp, err := fit.CreateTopic(ctx, spec("fits", 1000))
	if err != nil {
		t.Fatalf("1000 partitions in 16 operations: %v", err)
	}
	st, err := fit.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Topics["fits"]; len(got.Partitions) != 1000 || got.CreatedAt != tp.CreatedAt {
		t.Fatalf("snapshot holds %d partitions", len(got.Partitions))
	}
	if _, err := fit.CreateTopic(ctx, spec("too-big", 5000)); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("5000 partitions in 64 KiB: %v, want ErrInvalid", err)
	} else {
		t.Logf("refused: %v", err)
	}
	above := newBackend(t, ec.Endpoints(), "/limits/") // assumes the defaults
	if _, err := above.CreateTopic(ctx, spec("above", 100)); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("101 operations against --max-txn-ops 16: %v, want ErrInvalid", err)
	} else {
		t.Logf("refused by etcd: %v", err)
	}
	if _, ok := st.Topics["above"]; ok {
		t.Fatal("refused topic exists")
	}
}

func TestTopicNamesAreEscaped(t *testing.T) {
	ec := startEtcd(t, 1)
	b := newBackend(t, ec.Endpoints(), "/names/")
	ctx := ctxFor(t, 30*time.Second)
	names := []string{"a", "a/b", "a%2Fb", "with space", "ü-topic", "a/"}
	for i, name := range names {
		if _, err := b.CreateTopic(ctx, spec(name, i+1)); err != nil {
			t.Fatalf("CreateTopic(%q): %v", name, err)
		}
	}
	if err := b.DeleteTopic(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	st, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names[1:] {
		if got := st.Topics[name]; got.Name != name || len(got.Partitions) != i+2 {
			t.Errorf("topic %q: %+v", name, got)
		}
	}
	if _, ok := st.Topics["a"]; ok || len(st.Topics) != len(names)-1 {
		t.Errorf("topics after deleting \"a\": %v", len(st.Topics))
	}
	if _, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: "a/b", Partition: 1, Leader: 2, ISR: []int32{2}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "a/b/c", "b"} {
		if _, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: name, Partition: 0, Leader: 0}); !errors.Is(err, metadata.ErrUnknownTopic) {
			t.Errorf("AlterPartition(%q): %v, want ErrUnknownTopic", name, err)
		}
	}
}
