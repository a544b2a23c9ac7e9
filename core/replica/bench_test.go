package replica_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceAcksAll: three in-process brokers, 6 partitions, 1 KiB
// records, an idempotent acks=all kgo producer; RF=1 against RF=3 (the
// issue's comparison: RF=3 should reach at least 40% of RF=1). Reports
// MiB/s.
func BenchmarkProduceAcksAll(b *testing.B) {
	for _, rf := range []int16{1, 3} {
		b.Run(fmt.Sprintf("rf=%d", rf), func(b *testing.B) {
			st := newStore(b)
			nodes := startNodes(b, st, 3, testReplicaConfig(30*time.Second))
			topic := fmt.Sprintf("bench-rf%d", rf)
			createTopic(b, nodes, topic, 6, rf, nil)
			cl := newClient(b, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
				kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()))
			val := make([]byte, 1024)
			_, _ = rand.Read(val) // and no compression: every byte is stored and replicated
			ctx := context.Background()
			// Warm up: metadata, producer id, connections.
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(val)))
			b.ResetTimer()
			start := time.Now()
			errs := make(chan error, 1)
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			b.ReportMetric(float64(b.N)*1024/(1<<20)/el.Seconds(), "MiB/s")
		})
	}
}
