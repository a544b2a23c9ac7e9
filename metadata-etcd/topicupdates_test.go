package etcdmeta_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestAddPartitionsRegroups: against a server with --max-txn-ops 16, a
// topic of 10 partitions (a key each) grown to 20 no longer fits a key per
// partition: the update regroups the chunks in its one transaction, is one
// TopicUpdated, and leaves exactly the new chunk keys.
func TestAddPartitionsRegroups(t *testing.T) {
	ec := etcdtest.Start(t, etcdtest.Options{Members: 1, Configure: func(_ int, cfg *embed.Config) {
		cfg.MaxTxnOps = 16
	}})
	ctx := ctxFor(t, time.Minute)
	b := newBackend(t, ec.Endpoints(), "/grow/", func(c *etcdmeta.Config) { c.MaxTxnOps = 16 })
	tp, err := b.CreateTopic(ctx, spec("t", 10))
	if err != nil {
		t.Fatal(err)
	}
	s0, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, b, s0.Revision)
	more := spec("t", 20).Partitions[10:]
	got, err := b.AddPartitions(ctx, "t", 10, more)
	if err != nil {
		t.Fatalf("AddPartitions(t, 10, 10 new): %v", err)
	}
	if len(got.Partitions) != 20 || got.CreatedAt != tp.CreatedAt || got.ID != tp.ID {
		t.Fatalf("AddPartitions returned %d partitions created at %d", len(got.Partitions), got.CreatedAt)
	}
	keys, err := ec.Client().Get(ctx, "/grow/partitions/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Kvs) != 7 {
		t.Errorf("%d partition keys after growing to 20, want 7 chunks of 3", len(keys.Kvs))
	}
	st, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs := w.until(st.Revision, 10*time.Second)
	if len(bs) != 1 || len(bs[0].Events) != 1 || bs[0].Events[0].Type != metadata.EventTopicUpdated ||
		len(bs[0].Events[0].Topic.Partitions) != 20 {
		t.Fatalf("the update delivered as %+v", bs)
	}
	replay(t, "watch of the regrouping", s0, bs, st)
	// Growing again keeps chunks of 3 while they fit.
	if _, err := b.AddPartitions(ctx, "t", 20, spec("t", 21).Partitions[20:]); err != nil {
		t.Fatalf("AddPartitions(t, 20, 1 new): %v", err)
	}
	st2, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, "watch of the second update", s0, w.until(st2.Revision, 10*time.Second), st2)
}

// TestTopicUpdatesConcurrent: concurrent AddPartitions with the same
// expected count from two nodes: exactly one commits, the others get
// ErrStaleEpoch. Read-modify-writes of the configs (SetTopicConfigs
// expecting what was read, again on ErrStaleEpoch) racing each other and
// AlterPartition of the same topic lose no change.
func TestTopicUpdatesConcurrent(t *testing.T) {
	ec := startEtcd(t, 1)
	a := newBackend(t, ec.Endpoints(), "/race/")
	b := newBackend(t, ec.Endpoints(), "/race/")
	ctx := ctxFor(t, time.Minute)
	if _, err := a.CreateTopic(ctx, spec("t", 4)); err != nil {
		t.Fatal(err)
	}
	s0, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, b, s0.Revision)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			node := a
			if i%2 == 1 {
				node = b
			}
			_, errs[i] = node.AddPartitions(ctx, "t", 4, spec("t", 6).Partitions[4:])
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, metadata.ErrStaleEpoch):
			t.Errorf("AddPartitions %d: %v, want nil or ErrStaleEpoch", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent AddPartitions(t, 4) committed, want 1", won, len(errs))
	}

	errs = make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = addConfig(ctx, a, "t", fmt.Sprintf("k%d", i), "v")
				return
			}
			p := int32(i / 2)
			_, errs[i] = b.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: p, Leader: metadata.NoLeader})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("change %d: %v", i, err)
		}
	}
	st, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := st.Topics["t"]
	want := maps.Clone(spec("t", 4).Configs) // the configs it was created with
	if want == nil {
		want = map[string]string{}
	}
	for _, k := range []string{"k0", "k2", "k4", "k6"} {
		want[k] = "v"
	}
	if len(tp.Partitions) != 6 || !maps.Equal(tp.Configs, want) {
		t.Fatalf("topic after the race: %+v", tp)
	}
	for p := range 6 {
		if got := tp.Partitions[p]; (p < 4) != (got.PartitionEpoch == 1) {
			t.Errorf("partition %d after the race: %+v", p, got)
		}
	}
	bs := w.until(st.Revision, 10*time.Second)
	replay(t, "watch of the race", s0, bs, st)
	updates, _ := w.events(func(e metadata.Event) bool { return e.Type == metadata.EventTopicUpdated })
	if len(updates) != 5 {
		t.Errorf("%d TopicUpdated events, want 5 (one AddPartitions, four SetTopicConfigs)", len(updates))
	}
}

// addConfig adds key=value to the topic's configs with a compare-and-set
// on what it read, reading again on ErrStaleEpoch.
func addConfig(ctx context.Context, b *etcdmeta.Backend, topic, key, value string) error {
	for {
		st, err := b.Snapshot(ctx)
		if err != nil {
			return err
		}
		cur := st.Topics[topic].Configs
		next := maps.Clone(cur)
		if next == nil {
			next = map[string]string{}
		}
		next[key] = value
		_, err = b.SetTopicConfigs(ctx, topic, cur, next)
		if !errors.Is(err, metadata.ErrStaleEpoch) {
			return err
		}
	}
}
