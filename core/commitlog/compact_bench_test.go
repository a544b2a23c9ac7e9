package commitlog

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkCompact measures one full pass over a log of 8 MiB-ish: 1 MiB
// segments of batches of 8 records (200-byte values) over 2000 keys each
// overwritten about 25 times, uncompressed and with lz4 and zstd. MB/s is
// bytes of segments cleaned; each iteration cleans a fresh copy of the
// same log (the copy is not timed).
func BenchmarkCompact(b *testing.B) {
	for _, codec := range []Compression{CompressionNone, CompressionLZ4, CompressionZstd} {
		b.Run(codec.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 1 << 20
			template := b.TempDir()
			l, err := Open(b.Context(), template, cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			value := make([]byte, 200)
			for i := range value {
				value[i] = 'a' + byte(r.IntN(26))
			}
			for i := range 6250 {
				recs := make([]testRecord, 8)
				for j := range recs {
					recs[j] = testRecord{key: fmt.Appendf(nil, "key-%05d", r.IntN(2000)), value: value, tsDelta: int64(j)}
				}
				if _, err := l.Append(build(b, batchSpec{codec: codec, records: recs, baseTimestamp: 1_700_000_000_000 + int64(i)}), AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			forceRoll(b, l)
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			var stats CompactStats
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				dir := copyDir(b, template)
				l, err := Open(b.Context(), dir, cfg, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				stats, err = l.Compact(b.Context(), CompactOptions{HighWatermark: l.LogEndOffset(), Force: true})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(stats.BytesBefore)
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(stats.BytesAfter)/float64(stats.BytesBefore), "size-ratio")
		})
	}
}
