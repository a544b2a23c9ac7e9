package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReadersWriter runs one writer (appends, rolls, retention,
// truncation above the high watermark) against readers that follow the log
// with Changed and Read bounded by the high watermark, and a goroutine doing
// timestamp lookups and header scans. Readers must only ever see whole,
// valid, contiguous batches, and what they read below the high watermark
// must be what the log finally holds. Run with -race.
func TestConcurrentReadersWriter(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	cfg.RetentionBytes = 64 << 10
	cfg.RetentionMs = -1
	l := openLog(t, t.TempDir(), cfg, Options{})

	const appends = 1500
	var hw atomic.Int64 // offsets below it are final
	done := make(chan struct{})
	var seen sync.Map // offset -> batch bytes read by a reader
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer close(done)
		for i := range appends {
			b := simpleBatch(t, 1+i%5, 20+i%300, int64(i))
			if _, err := l.Append(b, AppendOptions{LeaderEpoch: int32(i / 500)}); err != nil {
				fail(fmt.Errorf("append %d: %w", i, err))
				return
			}
			leo := l.LogEndOffset()
			switch {
			case i%97 == 50:
				// Truncate a little, never below the high watermark.
				to := max(hw.Load(), leo-3)
				if err := l.Truncate(to); err != nil {
					fail(fmt.Errorf("truncate: %w", err))
					return
				}
			case i%10 == 0:
				hw.Store(max(hw.Load(), leo-5))
			}
			if i%50 == 0 {
				if _, err := l.EnforceRetention(hw.Load()); err != nil {
					fail(fmt.Errorf("retention: %w", err))
					return
				}
			}
		}
		hw.Store(l.LogEndOffset())
		l.notify()
	}()

	reader := func(id int) {
		defer wg.Done()
		off := int64(0)
		var buf []byte
		for {
			ch := l.Changed()
			finished := false
			select {
			case <-done:
				finished = true
			default:
			}
			max := hw.Load()
			res, err := l.Read(buf[:0], off, 2000+id*3000, max)
			if errors.Is(err, ErrOffsetOutOfRange) && off < l.LogStartOffset() {
				off = l.LogStartOffset()
				continue
			}
			if err != nil {
				fail(fmt.Errorf("reader %d at %d: %w", id, off, err))
				return
			}
			buf = res.Data
			first := true
			for b := res.Data; len(b) > 0; {
				h, err := ParseHeader(b)
				if err != nil || h.Size() > len(b) || !CRCValid(b[:h.Size()]) {
					fail(fmt.Errorf("reader %d at %d: bad batch %v", id, off, err))
					return
				}
				if (first && (h.BaseOffset > off || h.LastOffset() < off)) || (!first && h.BaseOffset != off) {
					fail(fmt.Errorf("reader %d: batch %d..%d at offset %d", id, h.BaseOffset, h.LastOffset(), off))
					return
				}
				if h.LastOffset() >= max {
					fail(fmt.Errorf("reader %d: batch %d..%d past the high watermark %d", id, h.BaseOffset, h.LastOffset(), max))
					return
				}
				first = false
				seen.Store(h.BaseOffset, bytes.Clone(b[:h.Size()]))
				off = h.NextOffset()
				b = b[h.Size():]
			}
			if len(res.Data) > 0 {
				continue
			}
			if finished && off >= hw.Load() {
				return
			}
			select {
			case <-ch:
			case <-done:
			}
		}
	}
	for i := range 3 {
		wg.Add(1)
		go reader(i)
	}
	wg.Add(1)
	go func() { // lookups
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, _, err := l.OffsetForTimestamp(int64(len(errs))); err != nil {
				fail(fmt.Errorf("OffsetForTimestamp: %w", err))
				return
			}
			if _, _, err := l.MaxTimestamp(); err != nil {
				fail(fmt.Errorf("MaxTimestamp: %w", err))
				return
			}
			n := 0
			if err := l.ScanHeaders(l.LogStartOffset(), func(Header) bool { n++; return n < 50 }); err != nil {
				fail(fmt.Errorf("ScanHeaders: %w", err))
				return
			}
			_ = l.Size()
			_, _ = l.EndOffsetForEpoch(1)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := map[int64][]byte{}
	for _, b := range readAll(t, l) {
		h, _ := ParseHeader(b)
		final[h.BaseOffset] = b
	}
	checked := 0
	seen.Range(func(k, v any) bool {
		off := k.(int64)
		if off < l.LogStartOffset() {
			return true
		}
		if !bytes.Equal(final[off], v.([]byte)) {
			t.Errorf("batch at %d read by a reader is not the final one", off)
		}
		checked++
		return true
	})
	t.Logf("readers checked %d final batches; log [%d, %d) in %d segments", checked, l.LogStartOffset(), l.LogEndOffset(), l.NumSegments())
	if checked == 0 || l.NumSegments() < 2 || l.LogStartOffset() == 0 {
		t.Fatalf("checked %d batches over %d segments", checked, l.NumSegments())
	}
}
