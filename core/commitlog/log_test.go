package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"tiny segment":      func(c *Config) { c.SegmentBytes = 10 },
		"huge segment":      func(c *Config) { c.SegmentBytes = math.MaxInt32 + 1 },
		"negative roll":     func(c *Config) { c.SegmentMs = -1 },
		"negative interval": func(c *Config) { c.IndexIntervalBytes = -1 },
		"bad policy":        func(c *Config) { c.Flush = 7 },
		"interval zero":     func(c *Config) { c.Flush, c.FlushInterval = FlushInterval, 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := Open(t.Context(), t.TempDir(), c, Options{}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Open: %v", name, err)
		}
	}
	for s, want := range map[string]FlushPolicy{"none": FlushNone, "Always": FlushAlways, " interval ": FlushInterval} {
		if p, err := ParseFlushPolicy(s); err != nil || p != want || p.String() != want.String() {
			t.Errorf("%q: %v %v", s, p, err)
		}
	}
	if _, err := ParseFlushPolicy("sometimes"); !errors.Is(err, ErrInvalidConfig) {
		t.Error(err)
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{})
	var want [][]byte
	for i, c := range allCodecs {
		for _, n := range []int{1, 5, 40} {
			b := build(t, batchSpec{codec: c.codec, xerial: c.xerial, records: nRecords(n, 30+i), baseTimestamp: 5000})
			r := mustAppend(t, l, b)
			if r.LastOffset-r.BaseOffset+1 != int64(n) || r.LogAppendTime != -1 {
				t.Fatalf("result %+v for %d records", r, n)
			}
			// Append rewrote the caller's buffer: that is what is stored.
			h, _ := ParseHeader(b)
			if h.BaseOffset != r.BaseOffset {
				t.Fatalf("stored base %d, result %d", h.BaseOffset, r.BaseOffset)
			}
			want = append(want, b)
		}
	}
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
		var v Validator
		if _, err := v.ValidateBatch(got[i]); err != nil {
			t.Fatalf("stored batch %d does not validate: %v", i, err)
		}
	}
	leo := l.LogEndOffset()

	// Every offset reads back the batch containing it.
	for off := int64(0); off < leo; off++ {
		res, err := l.Read(nil, off, 1, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(res.Data)
		if err != nil || h.BaseOffset > off || h.LastOffset() < off || len(res.Data) != h.Size() || res.NextOffset != h.NextOffset() {
			t.Fatalf("Read(%d, maxBytes 1): %+v %v (%d bytes)", off, h, err, len(res.Data))
		}
	}
	// maxBytes: whole batches only, never cut.
	res, err := l.Read(nil, 0, len(want[0])+len(want[1])+len(want[2])-1, math.MaxInt64)
	if err != nil || !bytes.Equal(res.Data, slices.Concat(want[0], want[1])) {
		t.Fatalf("maxBytes: %d bytes, %v", len(res.Data), err)
	}
	// maxOffset (the high watermark) stops before a batch reaching it.
	h1, _ := ParseHeader(want[1])
	res, err = l.Read(nil, 0, 1<<20, h1.LastOffset())
	if err != nil || !bytes.Equal(res.Data, want[0]) || res.NextOffset != h1.BaseOffset {
		t.Fatalf("maxOffset: %d bytes, next %d, %v", len(res.Data), res.NextOffset, err)
	}
	res, err = l.Read(nil, h1.BaseOffset, 1<<20, h1.LastOffset())
	if err != nil || len(res.Data) != 0 || res.NextOffset != h1.BaseOffset {
		t.Fatalf("maxOffset at first batch: %d bytes, %v", len(res.Data), err)
	}
	// Appending to dst keeps its prefix.
	res, err = l.Read([]byte("prefix"), 0, 1, math.MaxInt64)
	if err != nil || !bytes.Equal(res.Data, append([]byte("prefix"), want[0]...)) {
		t.Fatalf("dst prefix: %v", err)
	}
	// The end and beyond.
	if res, err := l.Read(nil, leo, 100, math.MaxInt64); err != nil || len(res.Data) != 0 || res.NextOffset != leo {
		t.Fatalf("Read(leo): %v %d", err, len(res.Data))
	}
	if _, err := l.Read(nil, leo+1, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(leo+1): %v", err)
	}
	if _, err := l.Read(nil, -1, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(-1): %v", err)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("expected several segments, got %d", l.NumSegments())
	}
}

func TestAppendRewritesAndEpochs(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Now: clk.Now})
	b := build(t, batchSpec{records: nRecords(3, 5), baseTimestamp: 10, leaderEpoch: 99, baseOffset: 1234})
	r, err := l.Append(b, AppendOptions{LeaderEpoch: 2, LogAppendTime: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.LogAppendTime != clk.Now().UnixMilli() || r.BaseOffset != 0 || r.LastOffset != 2 {
		t.Fatalf("%+v", r)
	}
	var v Validator
	info, err := v.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !info.LogAppendTime() || info.MaxTimestamp != r.LogAppendTime || info.BaseTimestamp != 10 || info.PartitionLeaderEpoch != 2 || info.BaseOffset != 0 {
		t.Fatalf("%+v", info.Header)
	}
	// CreateTime clears a client-set LogAppendTime bit.
	b2 := build(t, batchSpec{records: nRecords(1, 5), baseTimestamp: 10, attrs: AttrLogAppendTime})
	if _, err := l.Append(b2, AppendOptions{LeaderEpoch: 2}); err != nil {
		t.Fatal(err)
	}
	if info, err := v.ValidateBatch(b2); err != nil || info.LogAppendTime() {
		t.Fatalf("%+v %v", info.Header, err)
	}
	mustAppendEpoch := func(epoch int32) AppendResult {
		t.Helper()
		r, err := l.Append(simpleBatch(t, 2, 5, 10), AppendOptions{LeaderEpoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustAppendEpoch(2)
	r5 := mustAppendEpoch(5)
	mustAppendEpoch(5)
	if _, err := l.Append(simpleBatch(t, 1, 5, 10), AppendOptions{LeaderEpoch: 4}); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("older epoch: %v", err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 5, 10), AppendOptions{LeaderEpoch: -1}); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("negative epoch: %v", err)
	}
	wantEpochs := []EpochEntry{{2, 0}, {5, r5.BaseOffset}}
	if got := l.EpochEntries(); !slices.Equal(got, wantEpochs) {
		t.Fatalf("epochs %v", got)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 5 {
		t.Fatalf("latest %d %v", e, ok)
	}
	// Framing errors append nothing.
	leo := l.LogEndOffset()
	good := simpleBatch(t, 2, 5, 10)
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 1, 2, 3),
		"bad count": mutate(good, true, func(b []byte) []byte { b[offRecordCount+3] = 9; return b }),
	} {
		if _, err := l.Append(bad, AppendOptions{LeaderEpoch: 5}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if l.LogEndOffset() != leo {
		t.Fatal("a failed append moved the log end offset")
	}
	// Several batches in one append.
	multi := slices.Concat(simpleBatch(t, 2, 5, 10), simpleBatch(t, 3, 5, 10))
	r, err = l.Append(multi, AppendOptions{LeaderEpoch: 5})
	if err != nil || r.BaseOffset != leo || r.LastOffset != leo+4 {
		t.Fatalf("%+v %v", r, err)
	}
	if h, _ := ParseHeader(multi[len(multi)/2+1:]); false {
		_ = h
	}
	second, _ := ParseHeader(multi[len(simpleBatch(t, 2, 5, 10)):])
	if second.BaseOffset != leo+2 {
		t.Fatalf("second batch base %d", second.BaseOffset)
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{})
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty: %d %d", e, o)
	}
	for _, ep := range []int32{1, 1, 3, 3, 3, 6} {
		if _, err := l.Append(simpleBatch(t, 2, 5, 10), AppendOptions{LeaderEpoch: ep}); err != nil {
			t.Fatal(err)
		}
	}
	// epochs: 1@0, 3@4, 6@10; leo 12
	for _, tc := range []struct {
		epoch     int32
		wantEpoch int32
		wantOff   int64
	}{
		{-1, -1, -1}, {0, 0, 0}, {1, 1, 4}, {2, 1, 4}, {3, 3, 10}, {4, 3, 10}, {5, 3, 10}, {6, 6, 12}, {7, -1, -1},
	} {
		e, o := l.EndOffsetForEpoch(tc.epoch)
		if e != tc.wantEpoch || o != tc.wantOff {
			t.Errorf("epoch %d: (%d, %d), want (%d, %d)", tc.epoch, e, o, tc.wantEpoch, tc.wantOff)
		}
	}
}

func TestRollBySizeAndTime(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentMs = time.Hour
	l := openLog(t, dir, cfg, Options{Now: clk.Now})
	ts := clk.Now().UnixMilli()
	// Size: ~400-byte batches into 4 KiB segments.
	for range 30 {
		mustAppend(t, l, simpleBatch(t, 3, 100, ts))
	}
	segs := *l.segs.Load()
	for i, s := range segs {
		if s.size.Load() > cfg.SegmentBytes {
			t.Fatalf("segment %d has %d bytes", i, s.size.Load())
		}
		if i > 0 && s.base != segs[i-1].next.Load() {
			t.Fatalf("segment %d base %d, previous ends at %d", i, s.base, segs[i-1].next.Load())
		}
		if _, err := os.Stat(filepath.Join(dir, segmentName(s.base, logSuffix))); err != nil {
			t.Fatal(err)
		}
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	// A batch larger than a segment gets one of its own.
	n := l.NumSegments()
	r := mustAppend(t, l, simpleBatch(t, 2, 5000, ts))
	if l.NumSegments() != n+1 || l.active.base != r.BaseOffset || l.active.size.Load() <= cfg.SegmentBytes {
		t.Fatalf("big batch: %d segments, active base %d size %d", l.NumSegments(), l.active.base, l.active.size.Load())
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, ts))
	if l.NumSegments() != n+2 {
		t.Fatal("no roll after the big batch")
	}
	// Time: record timestamps an hour past the segment's first batch roll it.
	n = l.NumSegments()
	mustAppend(t, l, simpleBatch(t, 1, 10, ts+int64(30*time.Minute/time.Millisecond)))
	if l.NumSegments() != n {
		t.Fatal("rolled early")
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, ts+int64(61*time.Minute/time.Millisecond)))
	if l.NumSegments() != n+1 {
		t.Fatal("no time roll")
	}
	// Without timestamps the wall clock since creation counts.
	nots := openLog(t, t.TempDir(), cfg, Options{Now: clk.Now})
	mustAppend(t, nots, simpleBatch(t, 1, 10, -1))
	clk.Add(30 * time.Minute)
	mustAppend(t, nots, simpleBatch(t, 1, 10, -1))
	if nots.NumSegments() != 1 {
		t.Fatal("rolled early")
	}
	clk.Add(31 * time.Minute)
	mustAppend(t, nots, simpleBatch(t, 1, 10, -1))
	if nots.NumSegments() != 2 {
		t.Fatal("no wall-clock roll")
	}
	// SetConfig takes effect at once.
	big := cfg
	big.SegmentBytes = 1 << 20
	big.SegmentMs = 0
	if err := l.SetConfig(big); err != nil {
		t.Fatal(err)
	}
	n = l.NumSegments()
	for range 20 {
		mustAppend(t, l, simpleBatch(t, 3, 100, 1))
	}
	if l.NumSegments() != n {
		t.Fatalf("rolled with 1 MiB segments: %d -> %d", n, l.NumSegments())
	}
	if got := l.Config(); got != big {
		t.Fatalf("config %+v", got)
	}
	if err := l.SetConfig(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	readAll(t, l)
}

func TestRetention(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.RetentionMs = 10 * time.Minute
	l := openLog(t, t.TempDir(), cfg, Options{Now: clk.Now})
	now := clk.Now().UnixMilli()
	// 5 segments; segment i's newest timestamp is now - (50-10i) minutes.
	for i := range 5 {
		ts := now - int64((50-10*i))*60_000
		for range 9 {
			mustAppend(t, l, simpleBatch(t, 1, 400, ts))
		}
	}
	if l.NumSegments() < 5 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	segs := slices.Clone(*l.segs.Load())
	// The high watermark protects everything at or above it.
	res, err := l.EnforceRetention(0)
	if err != nil || res.DeletedSegments != 0 {
		t.Fatalf("hw 0: %+v %v", res, err)
	}
	res, err = l.EnforceRetention(l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	// Older than 10 minutes: segments with newest ts at -50..-20 min.
	var wantDeleted int
	var wantBytes int64
	for _, s := range segs[:len(segs)-1] {
		if s.maxTs.Load() < now-10*60_000 {
			wantDeleted++
			wantBytes += s.size.Load()
		}
	}
	if res.DeletedSegments != wantDeleted || res.DeletedBytes != wantBytes || wantDeleted == 0 {
		t.Fatalf("time retention %+v, want %d segments %d bytes", res, wantDeleted, wantBytes)
	}
	first := (*l.segs.Load())[0]
	if l.LogStartOffset() != first.base || res.LogStartOffset != first.base {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), first.base)
	}
	for _, s := range segs[:wantDeleted] {
		if _, err := os.Stat(s.path(logSuffix)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("segment %d still on disk: %v", s.base, err)
		}
	}
	if _, err := l.Read(nil, first.base-1, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	readAll(t, l)

	// Size: keep at least 5000 bytes; never the active segment.
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 5000
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.Size() < 5000 {
		t.Fatalf("size retention went below the limit: %d", l.Size())
	}
	if rest := *l.segs.Load(); len(rest) > 1 && l.Size()-rest[0].size.Load() >= 5000 {
		t.Fatalf("size retention kept too much: %d", l.Size())
	}
	cfg.RetentionBytes = 0
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.LogStartOffset() != l.active.base {
		t.Fatalf("retention.bytes 0: %d segments", l.NumSegments())
	}
	// Time retention also spares the active segment.
	cfg.RetentionMs = 0
	clk.Add(24 * time.Hour)
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if res, err := l.EnforceRetention(l.LogEndOffset()); err != nil || res.DeletedSegments != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDeleteRecordsBeforePersists(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig(), Options{})
	for range 40 {
		mustAppend(t, l, simpleBatch(t, 2, 200, 1))
	}
	segs := *l.segs.Load()
	target := segs[2].base + 3 // inside the third segment, inside a batch
	got, err := l.DeleteRecordsBefore(target)
	if err != nil || got != target || l.LogStartOffset() != target {
		t.Fatalf("%d %v", got, err)
	}
	if l.NumSegments() != len(segs)-2 {
		t.Fatalf("%d segments, want %d", l.NumSegments(), len(segs)-2)
	}
	if _, err := l.Read(nil, target-1, 10, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal(err)
	}
	// The batch holding the start offset is served whole.
	res, err := l.Read(nil, target, 1, math.MaxInt64)
	if h, _ := ParseHeader(res.Data); err != nil || h.BaseOffset != target-1 {
		t.Fatalf("%+v %v", h, err)
	}
	if got, err := l.DeleteRecordsBefore(target - 2); err != nil || got != target {
		t.Fatalf("going back: %d %v", got, err)
	}
	if _, err := l.DeleteRecordsBefore(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal(err)
	}
	for _, crash := range []bool{false, true} {
		if crash {
			l.crash()
		} else if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, dir, smallConfig(), Options{})
		if l.LogStartOffset() != target {
			t.Fatalf("after reopen (crash %v): log start %d, want %d", crash, l.LogStartOffset(), target)
		}
	}
	// Up to the end: every segment but the active one goes.
	leo := l.LogEndOffset()
	if _, err := l.DeleteRecordsBefore(leo); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.LogStartOffset() != leo {
		t.Fatalf("%d segments, start %d", l.NumSegments(), l.LogStartOffset())
	}
	r := mustAppend(t, l, simpleBatch(t, 1, 10, 1))
	if r.BaseOffset != leo || r.LogStartOffset != leo {
		t.Fatalf("%+v", r)
	}
	if got := readAll(t, l); len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
}

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig(), Options{})
	var bases []int64
	for i := range 40 {
		r, err := l.Append(simpleBatch(t, 3, 150, int64(1000+i)), AppendOptions{LeaderEpoch: int32(i / 10)})
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, r.BaseOffset)
	}
	all := readAll(t, l)
	segsBefore := l.NumSegments()

	// Inside a batch: the whole batch goes.
	if err := l.Truncate(bases[35] + 1); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != bases[35] {
		t.Fatalf("leo %d, want %d", l.LogEndOffset(), bases[35])
	}
	// Into an earlier segment: later segments are deleted.
	if err := l.Truncate(bases[12]); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != bases[12] || l.NumSegments() >= segsBefore {
		t.Fatalf("leo %d, %d segments", l.LogEndOffset(), l.NumSegments())
	}
	got := readAll(t, l)
	if len(got) != 12 {
		t.Fatalf("%d batches", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], all[i]) {
			t.Fatalf("batch %d changed", i)
		}
	}
	if want := []EpochEntry{{0, 0}, {1, bases[10]}}; !slices.Equal(l.EpochEntries(), want) {
		t.Fatalf("epochs %v", l.EpochEntries())
	}
	// Files of deleted segments are gone.
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(names) != l.NumSegments() {
		t.Fatalf("%d .log files, %d segments", len(names), l.NumSegments())
	}
	// No-ops.
	if err := l.Truncate(l.LogEndOffset() + 5); err != nil || l.LogEndOffset() != bases[12] {
		t.Fatal(err)
	}
	// Appends continue at the new end, in the truncated segment.
	r, err := l.Append(simpleBatch(t, 3, 150, 5), AppendOptions{LeaderEpoch: 7})
	if err != nil || r.BaseOffset != bases[12] {
		t.Fatalf("%+v %v", r, err)
	}
	ts, ok, err := l.MaxTimestamp()
	if err != nil || !ok || ts.Timestamp != 1000+11+2 {
		t.Fatalf("max timestamp after truncate: %+v %v %v", ts, ok, err)
	}
	for range 30 {
		mustAppendE(t, l, 7)
	}
	want := readAll(t, l)
	for _, crash := range []bool{false, true} {
		if crash {
			l.crash()
		} else if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, dir, smallConfig(), Options{})
		got := readAll(t, l)
		if len(got) != len(want) {
			t.Fatalf("reopen (crash %v): %d batches, want %d", crash, len(got), len(want))
		}
		if want := []EpochEntry{{0, 0}, {1, bases[10]}, {7, bases[12]}}; !slices.Equal(l.EpochEntries(), want) {
			t.Fatalf("epochs %v", l.EpochEntries())
		}
	}
	// Below the log start: reset.
	if _, err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 5 || l.NumSegments() != 1 || len(l.EpochEntries()) != 0 {
		t.Fatalf("reset: [%d, %d) %d segments %v", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments(), l.EpochEntries())
	}
}

func mustAppendE(t testing.TB, l *Log, epoch int32) AppendResult {
	t.Helper()
	r, err := l.Append(simpleBatch(t, 3, 150, 5), AppendOptions{LeaderEpoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig(), Options{})
	for range 20 {
		mustAppend(t, l, simpleBatch(t, 2, 300, 1))
	}
	if err := l.Reset(1_000_000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1_000_000 || l.LogEndOffset() != 1_000_000 || l.NumSegments() != 1 || l.Size() != 0 {
		t.Fatal("not reset")
	}
	// Deleted files go when the last reference (here possibly the
	// background fsync of a rolled segment) is released.
	eventually(t, func() error {
		names, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, n := range names {
			if base, _, ok := parseSegmentName(filepath.Base(n)); ok && base != 1_000_000 {
				return fmt.Errorf("leftover %s", n)
			}
		}
		return nil
	})
	r := mustAppend(t, l, simpleBatch(t, 2, 300, 1))
	if r.BaseOffset != 1_000_000 {
		t.Fatal(r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, smallConfig(), Options{})
	if l.LogStartOffset() != 1_000_000 || l.LogEndOffset() != 1_000_002 {
		t.Fatalf("[%d, %d)", l.LogStartOffset(), l.LogEndOffset())
	}
	if err := l.Reset(-1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal(err)
	}
}

func TestAppendReplicated(t *testing.T) {
	leader := openLog(t, t.TempDir(), smallConfig(), Options{})
	follower := openLog(t, t.TempDir(), smallConfig(), Options{})
	for i := range 30 {
		if _, err := leader.Append(simpleBatch(t, 2, 100, 7), AppendOptions{LeaderEpoch: int32(i / 10)}); err != nil {
			t.Fatal(err)
		}
	}
	for off := int64(0); off < leader.LogEndOffset(); {
		res, err := leader.Read(nil, off, 1000, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		r, err := follower.AppendReplicated(res.Data)
		if err != nil || r.BaseOffset != off {
			t.Fatalf("%+v %v", r, err)
		}
		off = res.NextOffset
	}
	if !slices.EqualFunc(readAll(t, leader), readAll(t, follower), bytes.Equal) {
		t.Fatal("follower differs")
	}
	if !slices.Equal(leader.EpochEntries(), follower.EpochEntries()) {
		t.Fatalf("epochs %v vs %v", leader.EpochEntries(), follower.EpochEntries())
	}
	res, _ := leader.Read(nil, 0, 1, math.MaxInt64)
	if _, err := follower.AppendReplicated(res.Data); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatal(err)
	}
	b := simpleBatch(t, 1, 10, 1)
	SetBaseOffset(b, follower.LogEndOffset())
	b[len(b)-1] ^= 1
	if _, err := follower.AppendReplicated(b); !errors.Is(err, ErrCorruptBatch) {
		t.Fatal(err)
	}
	b = fixCRC(b)
	SetPartitionLeaderEpoch(b, 1)
	if _, err := follower.AppendReplicated(b); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatal(err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	clk := newClock()
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 0
	l := openLog(t, t.TempDir(), cfg, Options{Now: clk.Now})
	type rec struct{ off, ts int64 }
	var recs []rec
	// Timestamps go up and down, across codecs, with some LogAppendTime.
	tsPattern := []int64{100, 90, 300, 250, 250, 500, 120, 800}
	for i := range 24 {
		c := allCodecs[i%len(allCodecs)]
		base := tsPattern[i%len(tsPattern)] + int64(i/len(tsPattern))*1000
		recsSpec := []testRecord{{value: []byte("a"), tsDelta: 0}, {value: []byte("b"), tsDelta: 7}, {value: []byte("c"), tsDelta: -5}}
		b := build(t, batchSpec{codec: c.codec, xerial: c.xerial, records: recsSpec, baseTimestamp: base})
		lat := i%5 == 4
		if lat {
			clk.Add(time.Millisecond)
		}
		r, err := l.Append(b, AppendOptions{LogAppendTime: lat})
		if err != nil {
			t.Fatal(err)
		}
		for j, rs := range recsSpec {
			ts := base + rs.tsDelta
			if lat {
				ts = r.LogAppendTime
			}
			recs = append(recs, rec{r.BaseOffset + int64(j), ts})
		}
	}
	check := func(minOff int64) {
		t.Helper()
		probes := []int64{-5, 0, 1, 2_000_000_000_000}
		for _, r := range recs {
			probes = append(probes, r.ts-1, r.ts, r.ts+1)
		}
		for _, p := range probes {
			var want *rec
			for i := range recs {
				if recs[i].off >= minOff && recs[i].ts >= p {
					want = &recs[i]
					break
				}
			}
			got, ok, err := l.OffsetForTimestamp(p)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				if ok {
					t.Fatalf("ts %d: got %+v, want none", p, got)
				}
				continue
			}
			if !ok || got.Offset != want.off || got.Timestamp != want.ts {
				t.Fatalf("ts %d: got %+v %v, want %+v", p, got, ok, *want)
			}
		}
		var best *rec
		for i := range recs {
			if best == nil || recs[i].ts > best.ts {
				best = &recs[i]
			}
		}
		got, ok, err := l.MaxTimestamp()
		if err != nil || !ok || got.Offset != best.off || got.Timestamp != best.ts {
			t.Fatalf("max timestamp %+v %v %v, want %+v", got, ok, err, *best)
		}
	}
	check(0)
	if l.NumSegments() < 2 {
		t.Fatal("want several segments")
	}
	if _, err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	check(10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, l.Dir(), cfg, Options{Now: clk.Now})
	check(10)
	empty := openLog(t, t.TempDir(), cfg, Options{})
	if _, ok, err := empty.OffsetForTimestamp(0); ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, ok, err := empty.MaxTimestamp(); ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestScanHeaders(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{})
	for range 30 {
		mustAppend(t, l, simpleBatch(t, 4, 100, 1))
	}
	var got []int64
	if err := l.ScanHeaders(41, func(h Header) bool {
		got = append(got, h.BaseOffset)
		return len(got) < 100
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 30-10 || got[0] != 40 || got[len(got)-1] != 116 {
		t.Fatalf("%v", got)
	}
	n := 0
	_ = l.ScanHeaders(0, func(Header) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatal(n)
	}
}

func TestChanged(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{})
	ch := l.Changed()
	if l.Changed() != ch {
		t.Fatal("waiters should share a channel")
	}
	select {
	case <-ch:
		t.Fatal("closed before any append")
	default:
	}
	mustAppend(t, l, simpleBatch(t, 1, 1, 1))
	<-ch
	ch = l.Changed()
	if err := l.Truncate(0); err != nil {
		t.Fatal(err)
	}
	<-ch
	ch = l.Changed()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-ch
	<-l.Changed()
	if n := testing.AllocsPerRun(10, func() { _ = l.Changed() }); n > 1 {
		t.Fatal(n)
	}
}

func TestClosedAndLocked(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig(), Options{})
	if _, err := Open(t.Context(), dir, smallConfig(), Options{}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
	mustAppend(t, l, simpleBatch(t, 1, 1, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 1, 1), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := l.Read(nil, 0, 1, math.MaxInt64); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"sync":      l.Sync(),
		"truncate":  l.Truncate(0),
		"setconfig": l.SetConfig(smallConfig()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	l2 := openLog(t, dir, smallConfig(), Options{})
	if l2.LogEndOffset() != 1 {
		t.Fatal(l2.LogEndOffset())
	}
}

func TestFlushPolicies(t *testing.T) {
	for _, p := range []FlushPolicy{FlushNone, FlushAlways, FlushInterval} {
		t.Run(p.String(), func(t *testing.T) {
			cfg := smallConfig()
			cfg.Flush = p
			cfg.FlushInterval = time.Millisecond
			dir := t.TempDir()
			l := openLog(t, dir, cfg, Options{})
			for range 30 {
				mustAppend(t, l, simpleBatch(t, 2, 100, 1))
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			// Concurrent appends (with FlushAlways they share fsyncs).
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						if _, err := l.Append(simpleBatch(t, 2, 100, 1), AppendOptions{}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if a := l.active; p == FlushAlways && a.syncedTo != a.size.Load() {
				t.Fatalf("synced to %d of %d bytes", a.syncedTo, a.size.Load())
			}
			// Switch policy at run time; the goroutine follows.
			cfg.Flush = FlushInterval
			if err := l.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, simpleBatch(t, 2, 100, 1))
			cfg.Flush = FlushNone
			if err := l.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			l.crash()
			l = openLog(t, dir, cfg, Options{})
			if l.LogEndOffset() != 142 {
				t.Fatal(l.LogEndOffset())
			}
		})
	}
}
