package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactOverwrites: a key written many times keeps only its newest
// record; offsets, the log end offset and reads by offset are unchanged.
func TestCompactOverwrites(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	const keys = 10
	for i := range 300 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%keys), fmt.Sprintf("v%d", i)))
	}
	forceRoll(t, l)
	leo, lso, sizeBefore, nsegs := l.LogEndOffset(), l.LogStartOffset(), l.Size(), l.NumSegments()
	if nsegs < 5 {
		t.Fatalf("want several segments, got %d", nsegs)
	}
	st, err := l.Compact(t.Context(), CompactOptions{HighWatermark: leo, MinCleanableDirtyRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ran || st.Reason != "dirty ratio" || st.DirtyRatio != 1 || st.Keys != keys || st.RecordsRead != 300 || st.RecordsSuperseded != 300-keys {
		t.Fatalf("stats %+v", st)
	}
	if st.FirstDirtyOffset != leo || st.SegmentsRewritten == 0 || st.BytesAfter >= st.BytesBefore {
		t.Fatalf("stats %+v", st)
	}
	if l.LogEndOffset() != leo || l.LogStartOffset() != lso || l.NumSegments() > nsegs {
		t.Fatalf("offsets moved: [%d, %d) segs %d", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments())
	}
	if l.Size() >= sizeBefore/4 {
		t.Fatalf("size %d, was %d", l.Size(), sizeBefore)
	}
	_, recs := scanLog(t, l)
	if len(recs) != keys {
		t.Fatalf("%d records left, want %d: %v", len(recs), keys, recs)
	}
	w.check(recs)

	// Fetch by any offset finds the next surviving record.
	for off := lso; off < leo; off++ {
		res, err := l.Read(nil, off, 1, math.MaxInt64)
		if err != nil || len(res.Data) == 0 {
			t.Fatalf("Read(%d): %v, %d bytes", off, err, len(res.Data))
		}
		h, _ := ParseHeader(res.Data)
		_, rs := decodeBatch(t, res.Data[:h.Size()])
		var next *logRecord
		for i := range recs {
			if recs[i].offset >= off {
				next = &recs[i]
				break
			}
		}
		if h.LastOffset() < off {
			t.Fatalf("Read(%d) returned batch ending at %d", off, h.LastOffset())
		}
		if next != nil && next.offset <= h.LastOffset() {
			found := false
			for _, r := range rs {
				found = found || r.offset == next.offset
			}
			if !found {
				t.Fatalf("Read(%d): batch [%d, %d] misses record %v", off, h.BaseOffset, h.LastOffset(), *next)
			}
		}
		s, err := l.ReadSlice(off, 1, math.MaxInt64)
		if err != nil {
			t.Fatalf("ReadSlice(%d): %v", off, err)
		}
		got, err := s.AppendTo(nil)
		s.Close()
		if err != nil || len(got) < HeaderSize {
			t.Fatalf("ReadSlice(%d): %v", off, err)
		}
		if sh, _ := ParseHeader(got); sh.BaseOffset != h.BaseOffset {
			t.Fatalf("ReadSlice(%d) at batch %d, Read at %d", off, sh.BaseOffset, h.BaseOffset)
		}
	}

	// Nothing dirty: the next call does nothing.
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: leo, MinCleanableDirtyRatio: 0.5})
	if err != nil || st.Ran || st.DirtyBytes != 0 || st.Reason != "not due" {
		t.Fatalf("second pass %+v %v", st, err)
	}
	// A forced pass merges the shrunk segments into one (plus the active
	// one); the segment files of the merged ones go.
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: leo, Force: true})
	if err != nil || !st.Ran || l.NumSegments() != 2 || st.SegmentsRewritten != nsegs-1 {
		t.Fatalf("merging pass %+v %v: %d segments", st, err, l.NumSegments())
	}
	if n := countSuffix(t, l.Dir(), logSuffix); n != 2 {
		t.Fatalf("%d .log files after merging", n)
	}
	_, recs = scanLog(t, l)
	w.check(recs)
	if len(recs) != keys {
		t.Fatalf("%d records after merging", len(recs))
	}

	// The compacted log reopens (gaps are valid below the cleaned end),
	// both after a clean shutdown and after a crash.
	for _, crash := range []bool{false, true} {
		dir := l.Dir()
		if crash {
			l.crash()
		} else if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, dir, smallConfig(), Options{Now: clock.Now})
		if l.LogEndOffset() != leo {
			t.Fatalf("reopened log ends at %d, want %d", l.LogEndOffset(), leo)
		}
		_, again := scanLog(t, l)
		if len(again) != keys {
			t.Fatalf("reopened: %d records", len(again))
		}
		w.check(again)
		w.l = l
	}
	// The cleaner checkpoint survived: still nothing to do.
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: leo, MinCleanableDirtyRatio: 0.5})
	if err != nil || st.Ran || st.FirstDirtyOffset != leo {
		t.Fatalf("after reopen %+v %v", st, err)
	}
}

// TestCompactDirtyRatio: a pass runs only when the dirty share of the
// cleanable bytes exceeds min.cleanable.dirty.ratio, and the active
// segment and offsets at or above the high watermark are never cleaned.
func TestCompactDirtyRatio(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 200 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%100), strings.Repeat("x", 50)))
	}
	// Below the high watermark only.
	st, err := l.Compact(t.Context(), CompactOptions{HighWatermark: 0, Force: true})
	if err != nil || st.Ran || st.Reason != "no cleanable segment" {
		t.Fatalf("%+v %v", st, err)
	}
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.5})
	if err != nil || !st.Ran {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs := scanLog(t, l)
	w.check(recs)
	// The active segment was not touched: its records are all there.
	a := l.active
	if a.base >= l.LogEndOffset() || st.FirstDirtyOffset != a.base {
		t.Fatalf("active segment at %d, first dirty %d", a.base, st.FirstDirtyOffset)
	}
	for off := a.base; off < l.LogEndOffset(); off++ {
		if !containsOffset(recs, off) {
			t.Fatalf("record %d of the active segment removed", off)
		}
	}
	// A little more dirt: below the ratio, no pass.
	clean := st.BytesAfter
	for i := 0; l.active.base == a.base; i++ {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%100), strings.Repeat("y", 50)))
	}
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.9})
	if err != nil || st.Ran || st.Reason != "not due" || st.CleanBytes != clean || st.DirtyBytes == 0 || st.DirtyRatio >= 0.9 {
		t.Fatalf("%+v %v", st, err)
	}
	st, err = l.Compact(t.Context(), CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.01})
	if err != nil || !st.Ran {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs = scanLog(t, l)
	w.check(recs)
}

func containsOffset(recs []logRecord, off int64) bool {
	for _, r := range recs {
		if r.offset == off {
			return true
		}
	}
	return false
}

// TestCompactLags: min.compaction.lag.ms holds back young segments (by
// their newest batch's timestamp); max.compaction.lag.ms forces a pass
// whatever the ratio.
func TestCompactLags(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	old := clock.Now().Add(-time.Hour).UnixMilli()
	for i := range 100 {
		w.add(CompressionNone, old, kv(fmt.Sprintf("k%d", i%5), strings.Repeat("o", 40)))
	}
	forceRoll(t, l)
	boundary := l.LogEndOffset()
	for i := range 100 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%5), strings.Repeat("n", 40)))
	}
	forceRoll(t, l)
	opts := CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.5, MinCompactionLag: 10 * time.Minute}
	st, err := l.Compact(t.Context(), opts)
	if err != nil || !st.Ran || st.FirstDirtyOffset != boundary {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs := scanLog(t, l)
	w.check(recs)
	for off := boundary; off < l.LogEndOffset(); off++ {
		if !containsOffset(recs, off) {
			t.Fatalf("young record %d removed", off)
		}
	}
	// Once old enough, the young part is compacted too.
	clock.Add(11 * time.Minute)
	st, err = l.Compact(t.Context(), opts)
	if err != nil || !st.Ran || st.FirstDirtyOffset != l.active.base {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs = scanLog(t, l)
	w.check(recs)
	if len(recs) != 5 {
		t.Fatalf("%d records left", len(recs))
	}

	// max.compaction.lag.ms: a tiny dirty share, old enough, runs.
	w.add(CompressionNone, clock.Now().UnixMilli(), kv("k1", "late"))
	forceRoll(t, l)
	opts = CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.99}
	if st, err = l.Compact(t.Context(), opts); err != nil || st.Ran {
		t.Fatalf("%+v %v", st, err)
	}
	opts.MaxCompactionLag = time.Minute
	if st, err = l.Compact(t.Context(), opts); err != nil || st.Ran {
		t.Fatalf("not yet old: %+v %v", st, err)
	}
	clock.Add(2 * time.Minute)
	if st, err = l.Compact(t.Context(), opts); err != nil || !st.Ran || st.Reason != "max compaction lag" {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs = scanLog(t, l)
	w.check(recs)
	if len(recs) != 5 {
		t.Fatalf("%d records left: %v", len(recs), recs)
	}
}

// TestCompactTombstones: a tombstone removes older values at once, stays
// until delete.retention.ms after the pass that first kept it, then goes;
// its batch's delete horizon is set without changing record timestamps.
func TestCompactTombstones(t *testing.T) {
	for _, codec := range []Compression{CompressionNone, CompressionZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			clock := newClock()
			l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
			w := newWorkload(t, l)
			for i := range 50 {
				w.add(codec, clock.Now().UnixMilli()-1000, kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i)))
			}
			w.add(codec, clock.Now().UnixMilli()-500, tomb("k1"), kv("k2", "last"), tomb("k3"))
			forceRoll(t, l)
			opts := CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.5, DeleteRetention: time.Hour}
			st, err := l.Compact(t.Context(), opts)
			if err != nil || !st.Ran || st.TombstonesRemoved != 0 {
				t.Fatalf("%+v %v", st, err)
			}
			batches, recs := scanLog(t, l)
			w.check(recs)
			if len(recs) != 5 { // k0, k4 values, k1 and k3 tombstones, k2
				t.Fatalf("records %v", recs)
			}
			horizon := int64(-1)
			for _, b := range batches {
				if b.Attributes&AttrDeleteHorizon != 0 {
					horizon = b.FirstTimestamp
				}
			}
			if want := clock.Now().Add(time.Hour).UnixMilli(); horizon != want {
				t.Fatalf("delete horizon %d, want %d", horizon, want)
			}
			// Not yet: nothing due, and a forced pass keeps them.
			clock.Add(59 * time.Minute)
			if st, err = l.Compact(t.Context(), opts); err != nil || st.Ran {
				t.Fatalf("%+v %v", st, err)
			}
			opts.Force = true
			if st, err = l.Compact(t.Context(), opts); err != nil || !st.Ran || st.TombstonesRemoved != 0 {
				t.Fatalf("%+v %v", st, err)
			}
			opts.Force = false
			clock.Add(time.Minute)
			st, err = l.Compact(t.Context(), opts)
			if err != nil || !st.Ran || st.Reason != "delete horizon" || st.TombstonesRemoved != 2 {
				t.Fatalf("%+v %v", st, err)
			}
			_, recs = scanLog(t, l)
			w.check(recs)
			if len(recs) != 3 {
				t.Fatalf("records %v", recs)
			}
			for _, r := range recs {
				if r.value == nil {
					t.Fatalf("tombstone left: %v", r)
				}
			}
			// No horizon left to wait for.
			clock.Add(24 * time.Hour)
			if st, err = l.Compact(t.Context(), opts); err != nil || st.Ran {
				t.Fatalf("%+v %v", st, err)
			}
		})
	}
}

// TestCompactCodecs: compressed batches of every codec are decompressed,
// filtered and recompressed with the same codec (snappy with its framing).
func TestCompactCodecs(t *testing.T) {
	for _, tc := range []struct {
		codec  Compression
		xerial bool
	}{{CompressionNone, false}, {CompressionGzip, false}, {CompressionSnappy, false}, {CompressionSnappy, true}, {CompressionLZ4, false}, {CompressionZstd, false}} {
		name := tc.codec.String()
		if tc.xerial {
			name += "-xerial"
		}
		t.Run(name, func(t *testing.T) {
			clock := newClock()
			l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
			w := newWorkload(t, l)
			for i := range 40 {
				var recs []testRecord
				for j := range 6 {
					r := kv(fmt.Sprintf("k%d", (i*6+j)%17), strings.Repeat(fmt.Sprint(i), 30))
					r.headers = []kmsg.Header{{Key: "h", Value: []byte{byte(j)}}, {Key: "null"}}
					r.tsDelta = int64(j)
					recs = append(recs, r)
				}
				b := build(t, batchSpec{codec: tc.codec, xerial: tc.xerial, records: recs, baseTimestamp: clock.Now().UnixMilli() + int64(i)})
				res := mustAppend(t, l, b)
				for j, r := range recs {
					w.recs[res.BaseOffset+int64(j)] = logRecord{offset: res.BaseOffset + int64(j), timestamp: clock.Now().UnixMilli() + int64(i) + int64(j), key: r.key, value: r.value, headers: r.headers}
				}
			}
			forceRoll(t, l)
			st, err := l.Compact(t.Context(), forceOpts(l))
			if err != nil || st.RecordsSuperseded == 0 {
				t.Fatalf("%+v %v", st, err)
			}
			batches, recs := scanLog(t, l)
			w.check(recs)
			if len(recs) != 17 {
				t.Fatalf("%d records", len(recs))
			}
			// Timestamp lookups read the thinned batches' records too
			// (their offset deltas are no longer 0, 1, 2...).
			for _, r := range recs {
				want := int64(-1)
				for _, o := range recs {
					if o.timestamp >= r.timestamp && (want < 0 || o.offset < want) {
						want = o.offset
					}
				}
				got, ok, err := l.OffsetForTimestamp(r.timestamp)
				if err != nil || !ok || got.Offset != want {
					t.Fatalf("OffsetForTimestamp(%d) = %+v, %v, %v; want offset %d", r.timestamp, got, ok, err, want)
				}
			}
			if _, _, err := l.MaxTimestamp(); err != nil {
				t.Fatalf("MaxTimestamp of a compacted log: %v", err)
			}
			partial := 0
			for _, b := range batches {
				if b.NumRecords == 0 {
					if b.Attributes&7 != 0 {
						t.Fatalf("empty batch with codec %d", b.Attributes&7)
					}
					continue
				}
				if Compression(b.Attributes&7) != tc.codec {
					t.Fatalf("batch at %d has codec %d, want %v", b.FirstOffset, b.Attributes&7, tc.codec)
				}
				if tc.codec == CompressionSnappy && strings.HasPrefix(string(b.Records), string(xerialMagic)) != tc.xerial {
					t.Fatalf("snappy framing changed")
				}
				if b.NumRecords < b.LastOffsetDelta+1 {
					partial++
				}
			}
			if partial == 0 {
				t.Fatal("no batch lost only part of its records")
			}
			// Reopen after a crash: full scans of compacted segments.
			dir := l.Dir()
			l.crash()
			l2 := openLog(t, dir, smallConfig(), Options{Now: clock.Now})
			_, again := scanLog(t, l2)
			w.check(again)
			if len(again) != 17 {
				t.Fatalf("%d records after reopen", len(again))
			}
		})
	}
}

// TestCompactNullKeys: the cleaner drops records without a key (Kafka
// does); RequireRecordKeys refuses them at produce time.
func TestCompactNullKeys(t *testing.T) {
	for _, codec := range []Compression{CompressionNone, CompressionLZ4} {
		good := build(t, batchSpec{codec: codec, records: []testRecord{kv("a", "1"), kv("b", "2")}})
		bad := build(t, batchSpec{codec: codec, records: []testRecord{kv("a", "1"), {value: []byte("no key")}}})
		if err := RequireRecordKeys(good); err != nil {
			t.Fatal(err)
		}
		if err := RequireRecordKeys(append(good[:len(good):len(good)], bad...)); !errors.Is(err, ErrNullKey) || !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("%v: %v", codec, err)
		}
		if err := RequireRecordKeys(bad[:len(bad)-1]); !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("short batch: %v", err)
		}
	}
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 30 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i), "v"), testRecord{value: []byte("keyless")})
	}
	forceRoll(t, l)
	st, err := l.Compact(t.Context(), forceOpts(l))
	if err != nil || st.NullKeysRemoved != 30 {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs := scanLog(t, l)
	w.check(recs)
	if len(recs) != 30 {
		t.Fatalf("%d records", len(recs))
	}
}

// TestCompactProducerState: a batch whose records are all superseded is
// dropped, except the last batch of each producer, kept empty with its
// producer fields and offsets, and the last batch of each segment.
func TestCompactProducerState(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	var lastOfPID AppendResult
	for i := range 20 {
		b := build(t, batchSpec{records: []testRecord{kv("shared", fmt.Sprint(i)), kv("shared", fmt.Sprint(i))},
			producerID: 7, producerEpoch: 1, baseSequence: int32(2 * i), baseTimestamp: clock.Now().UnixMilli()})
		lastOfPID = mustAppend(t, l, b)
		for j := range 2 {
			w.recs[lastOfPID.BaseOffset+int64(j)] = logRecord{offset: lastOfPID.BaseOffset + int64(j), timestamp: clock.Now().UnixMilli(), key: []byte("shared"), value: []byte(fmt.Sprint(i))}
		}
	}
	w.add(CompressionNone, clock.Now().UnixMilli(), kv("shared", "final"))
	forceRoll(t, l)
	st, err := l.Compact(t.Context(), forceOpts(l))
	if err != nil || st.BatchesRemoved == 0 || st.EmptyBatchesKept == 0 {
		t.Fatalf("%+v %v", st, err)
	}
	batches, recs := scanLog(t, l)
	w.check(recs)
	if len(recs) != 1 {
		t.Fatalf("records %v", recs)
	}
	found := false
	for _, b := range batches {
		if b.FirstOffset == lastOfPID.BaseOffset {
			found = true
			if b.NumRecords != 0 || b.ProducerID != 7 || b.ProducerEpoch != 1 || b.FirstSequence != 38 || b.LastOffsetDelta != 1 {
				t.Fatalf("producer's last batch: %+v", b)
			}
		}
	}
	if !found {
		t.Fatal("the producer's last batch was dropped")
	}
	// ScanHeaders (producer state rebuild) sees it.
	var seq int32 = -1
	if err := l.ScanHeaders(0, func(h Header) bool {
		if h.ProducerID == 7 {
			seq = h.BaseSequence + h.LastOffsetDelta
		}
		return true
	}); err != nil || seq != 39 {
		t.Fatalf("last sequence %d, %v", seq, err)
	}
	// Every segment still ends where the next one starts.
	segs := *l.segs.Load()
	for i := 1; i < len(segs); i++ {
		if segs[i-1].next.Load() != segs[i].base {
			t.Fatalf("segment %d ends at %d, next starts at %d", segs[i-1].base, segs[i-1].next.Load(), segs[i].base)
		}
	}
}

// TestCompactConcurrentReaders: consumers reading the whole log over and
// over while passes replace segments and producers append never see a
// torn or changed record (run with -race).
func TestCompactConcurrentReaders(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 300 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%20), fmt.Sprintf("v%d", i)))
	}
	var mu sync.Mutex // guards w.recs between the appender and readers
	snapshot := func() map[int64]logRecord {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int64]logRecord, len(w.recs))
		for k, v := range w.recs {
			out[k] = v
		}
		return out
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				known := snapshot()
				off := l.LogStartOffset()
				end := l.LogEndOffset()
				for off < end {
					var data []byte
					var next int64
					if r%2 == 0 {
						res, err := l.Read(nil, off, 2048, math.MaxInt64)
						if err != nil {
							errc <- fmt.Errorf("Read(%d): %w", off, err)
							return
						}
						data, next = res.Data, res.NextOffset
					} else {
						s, err := l.ReadSlice(off, 2048, math.MaxInt64)
						if err != nil {
							errc <- fmt.Errorf("ReadSlice(%d): %w", off, err)
							return
						}
						data, err = s.AppendTo(nil)
						s.Close()
						if err != nil {
							errc <- err
							return
						}
						next = off
						for b := data; len(b) >= HeaderSize; {
							h, _ := ParseHeader(b)
							next = h.NextOffset()
							b = b[h.Size():]
						}
					}
					if len(data) == 0 {
						errc <- fmt.Errorf("no data at %d before %d", off, end)
						return
					}
					for b := data; len(b) > 0; {
						h, err := ParseHeader(b)
						if err != nil || h.Size() > len(b) || !CRCValid(b[:h.Size()]) {
							errc <- fmt.Errorf("torn batch at %d: %v", off, err)
							return
						}
						if err := checkStoredHeader(&h); err != nil {
							errc <- err
							return
						}
						raw, err := decompressRecords(nil, b[:h.Size()], &h, DefaultMaxUncompressedBytes)
						if err != nil {
							errc <- err
							return
						}
						rs, err := parseRecords(nil, raw, h.NumRecords)
						if err != nil {
							errc <- err
							return
						}
						for _, rec := range rs {
							o := h.BaseOffset + int64(rec.offsetDelta)
							if want, ok := known[o]; ok && (string(want.key) != string(rec.key) || string(want.value) != string(rec.value)) {
								errc <- fmt.Errorf("record %d is %q=%q, appended %v", o, rec.key, rec.value, want)
								return
							}
						}
						b = b[h.Size():]
					}
					off = next
				}
			}
		}()
	}
	passes := 0
	for i := 300; i < 1200; i++ {
		mu.Lock()
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%20), fmt.Sprintf("v%d", i)))
		mu.Unlock()
		if i%100 == 0 {
			st, err := l.Compact(t.Context(), CompactOptions{HighWatermark: l.LogEndOffset(), MinCleanableDirtyRatio: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			if st.Ran {
				passes++
			}
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if passes < 3 {
		t.Fatalf("only %d passes ran", passes)
	}
	_, recs := scanLog(t, l)
	w.check(recs)
}

// TestCompactCrash simulates a crash at every step of a pass (the files as
// they are at that moment, copied): the copy opens, holds either the old
// or the new segment, loses no newest record of a key, and leaves no
// temporary file; a later pass finishes the job.
func TestCompactCrash(t *testing.T) {
	for _, merge := range []bool{false, true} {
		for _, step := range []string{"cleaned", "swap", "indexes", "renamed", "checkpoint"} {
			t.Run(fmt.Sprintf("merge=%v/%s", merge, step), func(t *testing.T) { compactCrash(t, step, merge) })
		}
	}
}

// compactCrash is TestCompactCrash at one step; with merge the crashing
// pass merges segments that an earlier pass shrank.
func compactCrash(t *testing.T, step string, merge bool) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 200 {
		w.add(CompressionGzip, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)), tomb(fmt.Sprintf("t%d", i%3)))
	}
	forceRoll(t, l)
	leo := l.LogEndOffset()
	if merge {
		if _, err := l.Compact(t.Context(), forceOpts(l)); err != nil {
			t.Fatal(err)
		}
		if l.NumSegments() < 4 {
			t.Fatalf("%d segments", l.NumSegments())
		}
	}
	var crashed []string
	l.compactHook = func(s string) {
		if s == step && len(crashed) < 2 {
			crashed = append(crashed, copyDir(t, l.Dir()))
		}
	}
	if _, err := l.Compact(t.Context(), forceOpts(l)); err != nil {
		t.Fatal(err)
	}
	if len(crashed) == 0 {
		t.Fatalf("step %s never reached", step)
	}
	for _, dir := range crashed {
		if step == "swap" || step == "indexes" {
			if !hasSuffixFile(t, dir, swapSuffix) {
				t.Fatalf("no .swap file at step %s", step)
			}
		}
		c := openLog(t, dir, smallConfig(), Options{Now: clock.Now})
		if c.LogEndOffset() != leo {
			t.Fatalf("recovered log ends at %d, want %d", c.LogEndOffset(), leo)
		}
		for _, suf := range []string{cleanedSuffix, swapSuffix} {
			if hasSuffixFile(t, dir, suf) {
				t.Fatalf("%s file left after Open", suf)
			}
		}
		cw := &workload{t: t, l: c, recs: w.recs}
		_, recs := scanLog(t, c)
		cw.check(recs)
		// A pass on the recovered log completes the work.
		if _, err := c.Compact(t.Context(), forceOpts(c)); err != nil {
			t.Fatal(err)
		}
		_, recs = scanLog(t, c)
		cw.check(recs)
		if len(recs) != 10 {
			t.Fatalf("%d records after the finishing pass", len(recs))
		}
		// Reopen once more after a crash: still valid.
		c.crash()
		c2 := openLog(t, dir, smallConfig(), Options{Now: clock.Now})
		_, recs = scanLog(t, c2)
		(&workload{t: t, l: c2, recs: w.recs}).check(recs)
		if merge && step != "cleaned" && c2.NumSegments() != 2 {
			t.Fatalf("%d segments after a crash in a merging pass", c2.NumSegments())
		}
	}
	if merge && l.NumSegments() != 2 {
		t.Fatalf("merging pass left %d segments", l.NumSegments())
	}
}

func countSuffix(t testing.TB, dir, suffix string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}

func hasSuffixFile(t testing.TB, dir, suffix string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			return true
		}
	}
	return false
}

// TestCompactTruncateAndRetention: retention and truncation race with
// passes without breaking the log; a truncation below the cleaned part
// makes it dirty again.
func TestCompactTruncateAndRetention(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 300 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%10), fmt.Sprintf("v%d", i)))
	}
	forceRoll(t, l)
	// A truncation between the plan and the swaps: the truncated segment
	// is not swapped and the truncation's progress stands.
	truncateTo := l.LogEndOffset() - 50
	l.compactHook = func(step string) {
		if step == "cleaned" && truncateTo > 0 {
			to := truncateTo
			truncateTo = 0
			if err := l.Truncate(to); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := l.Compact(t.Context(), forceOpts(l)); err != nil {
		t.Fatal(err)
	}
	l.compactHook = nil
	for off := range w.recs {
		if off >= l.LogEndOffset() {
			delete(w.recs, off)
		}
	}
	_, recs := scanLog(t, l)
	w.check(recs)
	st, err := l.Compact(t.Context(), forceOpts(l))
	if err != nil || !st.Ran {
		t.Fatalf("%+v %v", st, err)
	}
	_, recs = scanLog(t, l)
	w.check(recs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, l.Dir(), smallConfig(), Options{Now: clock.Now})
	w.l = l
	_, recs = scanLog(t, l)
	w.check(recs)
	// Retention deletes compacted segments as usual.
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 {
		t.Fatalf("%d segments after retention", l.NumSegments())
	}
}

// TestCompactClose: Close cancels a running pass and waits for it; Compact
// after Close is ErrClosed.
func TestCompactClose(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 200 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%10), "v"))
	}
	forceRoll(t, l)
	closed := make(chan error, 1)
	l.compactHook = func(step string) {
		if step == "cleaned" {
			go func() { closed <- l.Close() }()
			// Close waits for this pass: it must first cancel it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				l.passMu.Lock()
				c := l.closing
				l.passMu.Unlock()
				if c || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	_, err := l.Compact(t.Context(), forceOpts(l))
	if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
		t.Fatalf("pass during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(t.Context(), forceOpts(l)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if hasSuffixFile(t, l.Dir(), cleanedSuffix) {
		t.Fatal("temporary files left")
	}
	l2 := openLog(t, l.Dir(), smallConfig(), Options{Now: clock.Now})
	_, recs := scanLog(t, l2)
	(&workload{t: t, l: l2, recs: w.recs}).check(recs)
}

// TestCompactOptionsValidate covers the option checks.
func TestCompactOptionsValidate(t *testing.T) {
	for _, o := range []CompactOptions{
		{MinCleanableDirtyRatio: -0.1}, {MinCleanableDirtyRatio: 1.1}, {MinCleanableDirtyRatio: math.NaN()},
		{DeleteRetention: -1}, {MinCompactionLag: -1}, {MaxCompactionLag: -1},
		{MinCompactionLag: time.Hour, MaxCompactionLag: time.Minute}, {MaxMapBytes: -1},
	} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	ok := CompactOptions{MinCleanableDirtyRatio: 0.5, DeleteRetention: time.Hour, MinCompactionLag: time.Minute, MaxCompactionLag: time.Hour}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestCompactMapBound: a small key map bound splits the work over passes.
func TestCompactMapBound(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, l)
	for i := range 400 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("key-%03d", i%150), "v"))
	}
	forceRoll(t, l)
	opts := forceOpts(l)
	opts.MaxMapBytes = 1
	st, err := l.Compact(t.Context(), opts)
	if err != nil || st.FirstDirtyOffset >= l.LogEndOffset() || st.FirstDirtyOffset == 0 {
		t.Fatalf("%+v %v", st, err)
	}
	for passes := 1; st.FirstDirtyOffset < l.active.base; passes++ {
		if passes > 100 {
			t.Fatal("no progress")
		}
		if st, err = l.Compact(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		_, recs := scanLog(t, l)
		w.check(recs)
	}
}

// TestCompactProperty: random workloads (keys, values, tombstones, keyless
// records, headers, codecs, passes with random options and clock steps):
// after every pass and after reopening, every record is byte-identical to
// the one appended at its offset and the newest record of every key is
// there (or, for a tombstone, gone with every older value).
func TestCompactProperty(t *testing.T) {
	seeds := 4
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { compactProperty(t, uint64(seed)) })
	}
}

// FuzzCompact runs the property with fuzzed seeds.
func FuzzCompact(f *testing.F) {
	for s := range uint64(1) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { compactProperty(t, seed) })
}

func compactProperty(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	clock := newClock()
	cfg := smallConfig()
	cfg.SegmentBytes = int64(1024 + rng.IntN(4096))
	dir := t.TempDir()
	l, err := Open(t.Context(), dir, cfg, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	w := newWorkload(t, l)
	nkeys := 1 + rng.IntN(30)
	codecs := []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}
	for round := range 6 {
		for range 20 + rng.IntN(60) {
			var recs []testRecord
			for range 1 + rng.IntN(5) {
				r := testRecord{key: fmt.Appendf(nil, "k%d", rng.IntN(nkeys))}
				switch x := rng.IntN(10); {
				case x == 0:
					r.value = nil // tombstone
				case x == 1:
					r.key, r.value = nil, []byte("keyless")
				default:
					r.value = make([]byte, rng.IntN(100))
					for i := range r.value {
						r.value[i] = byte(rng.Uint32())
					}
				}
				if rng.IntN(3) == 0 {
					r.headers = []kmsg.Header{{Key: fmt.Sprint(rng.IntN(9)), Value: []byte{byte(rng.Uint32())}}}
				}
				recs = append(recs, r)
			}
			w.add(codecs[rng.IntN(len(codecs))], clock.Now().UnixMilli()-int64(rng.IntN(1000)), recs...)
			clock.Add(time.Duration(rng.IntN(100)) * time.Millisecond)
		}
		if rng.IntN(2) == 0 {
			forceRoll(t, l)
		}
		leo := l.LogEndOffset()
		opts := CompactOptions{
			HighWatermark:          leo - int64(rng.IntN(20)),
			MinCleanableDirtyRatio: rng.Float64(),
			DeleteRetention:        time.Duration(rng.IntN(3000)) * time.Millisecond,
			MinCompactionLag:       time.Duration(rng.IntN(2000)) * time.Millisecond,
			MaxMapBytes:            int64(1 + rng.IntN(4000)),
			Force:                  rng.IntN(3) == 0,
		}
		if _, err := l.Compact(t.Context(), opts); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if l.LogEndOffset() != leo {
			t.Fatalf("log end offset moved from %d to %d", leo, l.LogEndOffset())
		}
		_, recs := scanLog(t, l)
		w.check(recs)
		clock.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		if rng.IntN(3) == 0 {
			if rng.IntN(2) == 0 {
				l.crash()
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l, err = Open(t.Context(), dir, cfg, Options{Now: clock.Now}); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			w.l = l
			if l.LogEndOffset() != leo {
				t.Fatalf("reopened at %d, want %d", l.LogEndOffset(), leo)
			}
			_, recs = scanLog(t, l)
			w.check(recs)
		}
	}
}

// TestAppendReplicatedCompacted: a follower copies a compacted leader
// (offset gaps, partial and empty batches) and reopens after a crash.
func TestAppendReplicatedCompacted(t *testing.T) {
	clock := newClock()
	leader := openLog(t, t.TempDir(), smallConfig(), Options{Now: clock.Now})
	w := newWorkload(t, leader)
	for i := range 200 {
		w.add(CompressionNone, clock.Now().UnixMilli(), kv(fmt.Sprintf("k%d", i%10), fmt.Sprint(i)), kv(fmt.Sprintf("k%d", (i+3)%10), fmt.Sprint(i)))
	}
	forceRoll(t, leader)
	if _, err := leader.Compact(t.Context(), forceOpts(leader)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	follower := openLog(t, dir, smallConfig(), Options{Now: clock.Now})
	for off := int64(0); off < leader.LogEndOffset(); {
		res, err := leader.Read(nil, off, 1000, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.AppendReplicated(res.Data); err != nil {
			t.Fatalf("AppendReplicated at %d: %v", off, err)
		}
		off = res.NextOffset
	}
	if follower.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower ends at %d, leader at %d", follower.LogEndOffset(), leader.LogEndOffset())
	}
	follower.crash()
	follower = openLog(t, dir, smallConfig(), Options{Now: clock.Now})
	_, recs := scanLog(t, follower)
	w.l = follower
	w.check(recs)
	_, lrecs := scanLog(t, leader)
	if len(recs) != len(lrecs) {
		t.Fatalf("follower has %d records, leader %d", len(recs), len(lrecs))
	}
}
