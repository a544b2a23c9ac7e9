package replica_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/core/internal/brokertest"
)

// TestBrokersReplicate: three core/broker brokers (the assembly the chronik
// binary runs, with the replica Manager at its defaults) replicate an RF=3
// topic: acks=all produce is acknowledged and consumers read it back.
func TestBrokersReplicate(t *testing.T) {
	st := newStore(t)
	var addrs []string
	for id := int32(1); id <= 3; id++ {
		cfg := broker.DefaultConfig()
		cfg.BrokerID = id
		cfg.DataDir = t.TempDir()
		cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
		cfg.HTTPAddr = ""
		b, err := broker.New(cfg, st.Node("broker"), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = b.Start(ctx)
		if err == nil {
			err = b.WaitReady(ctx)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		addrs = append(addrs, b.Addr())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("brokers-rf3"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t, 30*time.Second)
	adm := kadm.NewClient(cl)
	brokertest.Poll(t, 10*time.Second, "three live brokers", func() bool {
		bs, err := adm.ListBrokers(ctx)
		return err == nil && len(bs) == 3
	})
	if resp, err := adm.CreateTopic(ctx, 2, 3, nil, "brokers-rf3"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	var want []string
	var recs []*kgo.Record
	for i := range 100 {
		v := string(rune('a'+i%26)) + time.Duration(i).String()
		want = append(want, v)
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("acks=all produce on RF=3: %v", err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("brokers-rf3"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < len(want) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %d records, want the %d produced", len(got), len(want))
	}
	offs, err := adm.ListEndOffsets(ctx, "brokers-rf3")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != 100 {
		t.Fatalf("high watermarks sum to %d, want 100", sum)
	}
}
