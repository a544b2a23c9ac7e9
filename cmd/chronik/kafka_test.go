package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsume: a real franz-go client produces through the chronik
// binary (embedded Raft backend) with an idempotent producer and acks=all,
// and a second client reads back every record in order per partition.
func TestProduceConsume(t *testing.T) {
	dir := t.TempDir()
	p := startChronik(t, dir)
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	adm, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	resp, err := kadm.NewClient(adm).CreateTopic(ctx, 3, 1, nil, "events")
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic("events"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 3000
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 30)), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %d: %v", i, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	last := map[int32]int64{}
	seen := 0
	for seen < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before the deadline", seen, n)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			seen++
		})
	}
	if seen != n || len(last) != 3 {
		t.Fatalf("consumed %d records over %d partitions, want %d over 3", seen, len(last), n)
	}
	cons.Close()
	p.stop(t)

	// Restarted on the same data, the broker serves every record again.
	p2 := startChronik(t, dir)
	p2.waitReady(t)
	if got := consumeAll(ctx, t, p2.kafka, "events", n); got != n {
		t.Fatalf("after restart: consumed %d records, want %d", got, n)
	}
	p2.stop(t)
}

// consumeAll reads topic from the start until want records came.
func consumeAll(ctx context.Context, t *testing.T, addr, topic string, want int) int {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := 0
	for seen < want && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(topic string, part int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("fetch %s/%d: %v", topic, part, err)
			}
		})
		seen += fs.NumRecords()
	}
	return seen
}
