package commitlog

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"testing"
)

// benchRecords returns n records of size bytes of random lowercase text
// (compressible roughly 1.6x, like typical payloads).
func benchRecords(n, size int) []testRecord {
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = 'a' + byte(r.IntN(26))
		}
		recs[i] = testRecord{key: fmt.Appendf(nil, "key-%06d", i), value: v, tsDelta: int64(i)}
	}
	return recs
}

// benchBatch is a 16 KiB batch of 1 KiB records with the given codec.
func benchBatch(b testing.TB, c Compression) []byte {
	return build(b, batchSpec{codec: c, records: benchRecords(16, 1024), baseTimestamp: 1_700_000_000_000})
}

// BenchmarkAppend appends 16 KiB batches of 1 KiB records to a log on disk;
// MB/s is appended bytes. Append does framing checks, offset/epoch rewrite
// and the write (validation is BenchmarkValidate).
func BenchmarkAppend(b *testing.B) {
	for _, p := range []FlushPolicy{FlushNone, FlushAlways} {
		b.Run("flush="+p.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Flush = p
			l, err := Open(b.Context(), b.TempDir(), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := benchBatch(b, CompressionNone)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Append(batch, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel appends from 4 goroutines to one log; with
// FlushAlways concurrent appends share fdatasync calls (group commit).
func BenchmarkAppendParallel(b *testing.B) {
	for _, p := range []FlushPolicy{FlushNone, FlushAlways} {
		b.Run("flush="+p.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Flush = p
			l, err := Open(b.Context(), b.TempDir(), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(benchBatch(b, CompressionNone))))
			b.ReportAllocs()
			b.SetParallelism(2) // 2 x GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				batch := benchBatch(b, CompressionNone)
				for pb.Next() {
					if _, err := l.Append(batch, AppendOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRead reads a 64 MiB log: sequentially in 1 MiB fetches (the
// consumer case, which continues where the last read stopped), and at
// random offsets (index lookups); MB/s is bytes returned.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l, err := Open(b.Context(), b.TempDir(), cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch(b, CompressionNone)
	for l.Size() < 64<<20 {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	for _, tc := range []struct {
		name     string
		maxBytes int
		random   bool
	}{
		{"sequential-1MiB", 1 << 20, false},
		{"random-64KiB", 64 << 10, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, tc.maxBytes+len(batch))
			r := rand.New(rand.NewPCG(3, 4))
			off := int64(0)
			var total int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if tc.random {
					off = r.Int64N(leo)
				}
				res, err := l.Read(buf[:0], off, tc.maxBytes, math.MaxInt64)
				if err != nil {
					b.Fatal(err)
				}
				total += int64(len(res.Data))
				off = res.NextOffset
				if off >= leo {
					off = 0
				}
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

// BenchmarkReadSliceSendfile sends the 64 MiB log in 1 MiB slices over a
// loopback TCP connection with sendfile (no user-space copy); MB/s is bytes
// sent. The receiving side discards.
func BenchmarkReadSliceSendfile(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l, err := Open(b.Context(), b.TempDir(), cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch(b, CompressionNone)
	for l.Size() < 64<<20 {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	leo := l.LogEndOffset()
	off := int64(0)
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s, err := l.ReadSlice(off, 1<<20, math.MaxInt64)
		if err != nil {
			b.Fatal(err)
		}
		n, err := s.WriteTo(conn)
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += n
		if off = s.NextOffset; off >= leo {
			off = 0
		}
	}
	b.SetBytes(total / int64(b.N))
	b.StopTimer()
	conn.Close()
	<-drained
}

// BenchmarkValidate validates a 16 KiB batch of 1 KiB records per codec:
// CRC, header rules and a walk of every record (decompressing). MB/s is
// the batch's uncompressed record bytes.
func BenchmarkValidate(b *testing.B) {
	raw := benchBatch(b, CompressionNone)
	for _, c := range allCodecs {
		b.Run(c.name, func(b *testing.B) {
			batch := build(b, batchSpec{codec: c.codec, xerial: c.xerial, records: benchRecords(16, 1024), baseTimestamp: 1})
			var v Validator
			b.SetBytes(int64(len(raw) - HeaderSize))
			b.ReportMetric(float64(len(batch)), "batch-bytes")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := v.ValidateBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
