package partition

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/chronik-go/chronik/core/commitlog"
)

// Benchmarks of the data path at the partition layer: 16 KiB batches of 16
// records of 1 KiB. Run with -benchmem; the per-op numbers are per batch.
//
//	go test -run '^$' -bench . -benchmem ./core/partition/

// benchBatch is a 16 KiB batch of 16 records of 1 KiB.
func benchBatch(pid int64) []byte {
	s := batchSpec{producerID: -1, epoch: -1, seq: -1, records: 16, valueSize: 1000, timestamp: 1_700_000_000_000, tsStep: 1}
	if pid >= 0 {
		s.producerID, s.epoch, s.seq = pid, 0, 0
	}
	return makeBatch(s)
}

func benchPartition(b *testing.B, topic string) *Partition {
	b.Helper()
	e := newEnv(b, nil)
	e.createTopic(topic, 1, nil)
	return e.leader(topic, 0)
}

// BenchmarkAppend: Append with acks=1 (validation, append, high watermark).
func BenchmarkAppend(b *testing.B) {
	p := benchPartition(b, "bench")
	batch := benchBatch(-1)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		binary.BigEndian.PutUint64(batch, 0) // Append wrote the offset in place
		if _, err := p.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendIdempotent: the same with an idempotent producer (the
// sequence check and state update; the batch's CRC is recomputed for each
// new sequence, which a real producer does too).
func BenchmarkAppendIdempotent(b *testing.B) {
	p := benchPartition(b, "bench")
	batch := benchBatch(1)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	seq := int32(0)
	b.ResetTimer()
	for b.Loop() {
		binary.BigEndian.PutUint64(batch, 0)
		binary.BigEndian.PutUint32(batch[53:], uint32(seq))
		binary.BigEndian.PutUint32(batch[17:], commitlog.ComputeCRC(batch))
		if _, err := p.Append(batch, -1); err != nil {
			b.Fatal(err)
		}
		seq += 16
	}
}

// BenchmarkAppendParallel: concurrent producers (distinct ids) on one
// partition.
func BenchmarkAppendParallel(b *testing.B) {
	p := benchPartition(b, "bench")
	b.SetBytes(int64(len(benchBatch(-1))))
	b.ReportAllocs()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		pid := next.Add(1)
		batch := benchBatch(pid)
		seq := int32(0)
		for pb.Next() {
			binary.BigEndian.PutUint64(batch, 0)
			binary.BigEndian.PutUint32(batch[53:], uint32(seq))
			binary.BigEndian.PutUint32(batch[17:], commitlog.ComputeCRC(batch))
			if _, err := p.Append(batch, 1); err != nil {
				b.Error(err)
				return
			}
			seq += 16
		}
	})
}

// BenchmarkFetch: a consumer reading 1 MiB per Fetch from a 64 MiB log,
// into a reused buffer.
func BenchmarkFetch(b *testing.B) {
	p := benchPartition(b, "bench")
	batch := benchBatch(-1)
	for range 4096 {
		binary.BigEndian.PutUint64(batch, 0)
		if _, err := p.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	end := p.HighWatermark()
	buf := make([]byte, 0, 2<<20)
	params := FetchParams{MaxBytes: 1 << 20, MinOneMessage: true, CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch, ReplicaID: ConsumerReplicaID}
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := p.Fetch(buf[:0], params)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(res.Records))
		params.Offset += int64(len(res.Records) / len(batch) * 16)
		if params.Offset >= end {
			params.Offset = 0
		}
	}
	b.SetBytes(total / int64(b.N))
}
