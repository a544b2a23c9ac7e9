package commitlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/chronik-go/chronik/core/internal/atomicfile"
)

// Log compaction (cleanup.policy=compact), after Kafka's log cleaner.
//
// A pass keeps, in the segments it cleans, only the latest record of each
// key. Offsets never change: a batch that loses records is rewritten with
// the same base offset and last offset delta (so the record count may be
// below last offset delta + 1), each kept record with its own offset delta;
// a batch that loses every record is dropped, except that the last batch of
// each rewritten segment (so that segments still continue each other, and
// Open can tell which segments a merged one replaced) and the last
// batch of each producer id (Kafka keeps it for the producer's sequence
// state) are kept as empty batches (record count 0). The log end offset
// never moves, and a Read at an offset that compaction removed returns the
// next batch that remains.
//
// Per pass:
//
//  1. Plan (cheap, no data read): the cleanable segments are the closed
//     segments below the high watermark, stopping at the first dirty one
//     whose newest batch is younger than MinCompactionLag. Those below the
//     first dirty offset (cleaner.checkpoint) are clean, the rest dirty.
//     The pass runs when dirty/(clean+dirty) exceeds MinCleanableDirtyRatio,
//     when the oldest dirty batch is older than MaxCompactionLag, when a
//     recorded delete horizon has passed, or with Force.
//  2. Key map: the latest offset of every key in the dirty segments (up to
//     MaxMapBytes of keys, whole segments; at least one).
//  3. The segments from the first up to the end of the map are grouped
//     (consecutive segments whose current sizes add up to at most
//     segment.bytes: segments an earlier pass shrank merge) and each group
//     is rewritten into <base>.log.cleaned (+ .index.cleaned,
//     .timeindex.cleaned; base = the group's first base offset), fsynced,
//     and swapped in under the writer lock: rename to <base>.log.swap (the
//     commit point), the other segments of the group renamed to *.deleted,
//     the indexes and then the log renamed over the old files, the
//     directory fsynced, the segment list republished. A single segment in
//     which nothing changes is not swapped. Readers holding an old segment
//     keep reading its (unlinked) files through their open descriptors;
//     new reads see the new files.
//  4. cleaner.checkpoint records the new first dirty offset.
//
// A record is kept if it has a key, no later record in the map has the
// same key, and it is not a tombstone (null value) whose delete horizon
// has passed. Records without a key are dropped, as Kafka's cleaner does
// (Kafka refuses them at produce time on compacted topics: see
// RequireRecordKeys). A batch that keeps a tombstone and has no delete
// horizon yet gets one: now + DeleteRetention, stored like Kafka (KIP-534)
// as the batch's base timestamp with attribute bit 6 set, the kept
// records' timestamp deltas re-encoded so that their timestamps do not
// change. A later pass after that time removes the tombstones.
//
// Compressed batches are decompressed, filtered and recompressed with the
// same codec (snappy keeps its framing); the max timestamp, producer id,
// epoch, base sequence and leader epoch of a batch never change; the CRC is
// recomputed. Control and transactional batches are kept whole (chronik
// refuses transactional produce; a log replicated from elsewhere keeps
// them as they are).
//
// Crash safety: a crash before the rename to .swap leaves the old segments
// (Open removes *.cleaned files); after it, Open completes the swap (the
// .swap file replaces the .log and the merged segments, those with base
// offsets below the offset after its last batch; the indexes are rebuilt
// from it). Offset
// gaps inside a segment are valid only below the cleaned end recorded in
// cleaner.checkpoint before any swap, so Open still refuses gaps elsewhere.

// CompactOptions are the compaction settings of a pass; the Kafka topic
// config each one implements is named in its comment.
type CompactOptions struct {
	// HighWatermark bounds the pass: only segments whose every offset is
	// below it are cleaned (pass LogEndOffset without replication).
	HighWatermark int64
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio, 0..1): a pass
	// runs when the dirty share of the cleanable bytes exceeds it.
	MinCleanableDirtyRatio float64
	// DeleteRetention (delete.retention.ms): how long a tombstone stays
	// after the pass that first kept it.
	DeleteRetention time.Duration
	// MinCompactionLag (min.compaction.lag.ms): a segment whose newest
	// batch (max timestamp) is younger than this is not cleaned yet.
	MinCompactionLag time.Duration
	// MaxCompactionLag (max.compaction.lag.ms): a pass runs whatever the
	// dirty ratio when the oldest dirty batch is older than this; zero
	// means no limit. (Kafka also rolls the active segment at this age:
	// see topicconfig Values.EffectiveSegmentMs.)
	MaxCompactionLag time.Duration
	// MaxMapBytes bounds the memory of the key map (Kafka's
	// log.cleaner.dedupe.buffer.size); a pass covers as many whole dirty
	// segments as fit, at least one. Zero means DefaultMaxMapBytes.
	MaxMapBytes int64
	// Force runs a pass over every cleanable segment whatever the ratio
	// and lags say (tests, admin tools).
	Force bool
}

// DefaultMaxMapBytes is the key map bound of a pass when
// CompactOptions.MaxMapBytes is zero.
const DefaultMaxMapBytes = 64 << 20

// keyMapOverhead is the estimated per-key memory of the key map beyond
// the key bytes.
const keyMapOverhead = 48

// Validate reports an invalid option as an ErrInvalidConfig error.
func (o *CompactOptions) Validate() error {
	switch {
	case o.MinCleanableDirtyRatio < 0 || o.MinCleanableDirtyRatio > 1 || o.MinCleanableDirtyRatio != o.MinCleanableDirtyRatio:
		return fmt.Errorf("%w: min cleanable dirty ratio %v outside [0, 1]", ErrInvalidConfig, o.MinCleanableDirtyRatio)
	case o.DeleteRetention < 0:
		return fmt.Errorf("%w: negative delete retention %v", ErrInvalidConfig, o.DeleteRetention)
	case o.MinCompactionLag < 0:
		return fmt.Errorf("%w: negative min compaction lag %v", ErrInvalidConfig, o.MinCompactionLag)
	case o.MaxCompactionLag < 0:
		return fmt.Errorf("%w: negative max compaction lag %v", ErrInvalidConfig, o.MaxCompactionLag)
	case o.MaxCompactionLag > 0 && o.MinCompactionLag > o.MaxCompactionLag:
		return fmt.Errorf("%w: min compaction lag %v above max compaction lag %v", ErrInvalidConfig, o.MinCompactionLag, o.MaxCompactionLag)
	case o.MaxMapBytes < 0:
		return fmt.Errorf("%w: negative max map bytes %d", ErrInvalidConfig, o.MaxMapBytes)
	}
	return nil
}

// CompactStats describes a Compact call.
type CompactStats struct {
	// Ran reports whether a pass ran; Reason says why (or why not).
	Ran    bool
	Reason string
	// DirtyRatio is dirty / (clean + dirty) cleanable bytes at the
	// start, and CleanBytes, DirtyBytes those sizes.
	DirtyRatio float64
	CleanBytes int64
	DirtyBytes int64
	// FirstDirtyOffset is the first dirty offset after the call.
	FirstDirtyOffset int64
	// SegmentsCleaned were read; SegmentsRewritten of them swapped.
	SegmentsCleaned   int
	SegmentsRewritten int
	// Keys is the number of distinct keys in the key map.
	Keys int
	// Records read from the cleaned segments, and removed by reason: superseded by a later record
	// of the same key, tombstones past their delete horizon, no key.
	RecordsRead       int64
	RecordsSuperseded int64
	TombstonesRemoved int64
	NullKeysRemoved   int64
	// BatchesRemoved were dropped whole; EmptyBatchesKept lost every
	// record but were kept as headers.
	BatchesRemoved   int64
	EmptyBatchesKept int64
	// BytesBefore and BytesAfter are the sizes of the cleaned segments.
	BytesBefore int64
	BytesAfter  int64
}

// Compact runs one compaction pass over the log if opts say it is due
// (see the package comment of compact.go: dirty ratio, lags, delete
// horizon) and returns what it did; a pass that is not due costs no I/O
// beyond reading one batch header. Only closed segments below
// HighWatermark are touched; offsets, the log start and end offsets do not
// change.
//
// Concurrency: appends, reads, retention and truncation run concurrently;
// only the swap of each rewritten segment takes the writer lock (briefly).
// Passes on one log are serialized. A segment that was truncated or
// deleted during the pass is left alone. Close cancels a running pass and
// waits for it.
//
// Errors: ctx's error if cancelled; ErrClosed; ErrInvalidConfig for bad
// options; ErrCorruptBatch/ErrInvalidRecord for a batch that does not
// decode (the pass stops, the log is unchanged from that segment on); I/O
// errors. A failed pass leaves a valid log: every segment is either the
// old or the new one, and temporary files are removed (or by Open).
func (l *Log) Compact(ctx context.Context, opts CompactOptions) (CompactStats, error) {
	if err := opts.Validate(); err != nil {
		return CompactStats{}, err
	}
	if opts.MaxMapBytes == 0 {
		opts.MaxMapBytes = DefaultMaxMapBytes
	}
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.passMu.Lock()
	if l.closing {
		l.passMu.Unlock()
		return CompactStats{}, ErrClosed
	}
	l.passCancel = cancel
	l.passMu.Unlock()
	defer func() {
		l.passMu.Lock()
		l.passCancel = nil
		l.passMu.Unlock()
	}()

	p, err := l.planCompaction(opts)
	if err != nil {
		return CompactStats{}, err
	}
	defer p.release()
	if !p.stats.Ran {
		return p.stats, nil
	}
	err = p.run(ctx)
	return p.stats, err
}

// compactPass is one compaction pass.
type compactPass struct {
	l            *Log
	opts         CompactOptions
	nowMs        int64
	segs         []*segment // candidate segments, each referenced
	dirty        int        // index of the first dirty segment in segs
	fd           int64      // first dirty offset at the start
	interval     int        // index interval bytes (Config) at the start
	segmentBytes int64      // segment bytes (Config) at the start
	gen          uint64     // cleaner generation at the start
	stats        CompactStats
	keys         map[string]int64
	pidEnd       map[int64]int64 // producer id -> base offset of its last batch

	sc         scanner
	decomp     []byte
	recs       []cleanRecord
	kept       []cleanRecord
	out        []byte
	encRaw     []byte
	enc        encoders
	wbuf       *bufio.Writer
	minHorizon int64
}

func (p *compactPass) release() {
	for _, s := range p.segs {
		s.release()
	}
	p.segs = nil
	p.enc.close()
}

// planCompaction takes a consistent view of the log and decides whether a
// pass is due.
func (l *Log) planCompaction(opts CompactOptions) (*compactPass, error) {
	p := &compactPass{l: l, opts: opts, nowMs: l.now().UnixMilli(), minHorizon: -1}
	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	all := *l.segs.Load()
	leo := l.endOffset.Load()
	p.interval = l.cfg.IndexIntervalBytes
	p.segmentBytes = l.cfg.SegmentBytes
	l.cleanMu.Lock()
	cc, gen := l.cleaner, l.cleanerGen
	l.cleanMu.Unlock()
	fd := cc.firstDirty
	if fd < all[0].base || fd > leo {
		fd = all[0].base
	}
	k := 0
	for ; k < len(all)-1; k++ {
		s := all[k]
		next := s.next.Load()
		if next > opts.HighWatermark {
			break
		}
		if next > fd && opts.MinCompactionLag > 0 {
			ts := s.maxTs.Load()
			if ts < 0 {
				ts = s.lastWrite.Load() // no timestamps: the file's age
			}
			if ts > p.nowMs-opts.MinCompactionLag.Milliseconds() {
				break
			}
		}
		if !s.acquire() {
			break
		}
		p.segs = append(p.segs, s)
	}
	l.mu.Unlock()
	p.fd, p.gen = fd, gen
	p.dirty = len(p.segs)
	for i, s := range p.segs {
		if s.next.Load() > fd {
			p.dirty = min(p.dirty, i)
			p.stats.DirtyBytes += s.size.Load()
		} else {
			p.stats.CleanBytes += s.size.Load()
		}
	}
	p.stats.FirstDirtyOffset = fd
	if total := p.stats.CleanBytes + p.stats.DirtyBytes; total > 0 {
		p.stats.DirtyRatio = float64(p.stats.DirtyBytes) / float64(total)
	}
	switch {
	case len(p.segs) == 0:
		p.stats.Reason = "no cleanable segment"
	case opts.Force:
		p.stats.Ran, p.stats.Reason = true, "forced"
	case p.stats.DirtyBytes > 0 && p.stats.DirtyRatio > opts.MinCleanableDirtyRatio:
		p.stats.Ran, p.stats.Reason = true, "dirty ratio"
	case p.stats.DirtyBytes > 0 && opts.MaxCompactionLag > 0 && p.oldestDirty() < p.nowMs-opts.MaxCompactionLag.Milliseconds():
		p.stats.Ran, p.stats.Reason = true, "max compaction lag"
	case cc.horizon >= 0 && p.nowMs >= cc.horizon && p.dirty > 0:
		p.stats.Ran, p.stats.Reason = true, "delete horizon"
	default:
		p.stats.Reason = "not due"
	}
	return p, nil
}

// oldestDirty returns the max timestamp of the first batch of the first
// dirty segment, or MaxInt64 when it has none.
func (p *compactPass) oldestDirty() int64 {
	var buf [HeaderSize]byte
	h, err := p.segs[p.dirty].headerAt(0, &buf)
	if err != nil || h.MaxTimestamp < 0 {
		return 1<<63 - 1
	}
	return h.MaxTimestamp
}

// run carries out a planned pass.
func (p *compactPass) run(ctx context.Context) error {
	l := p.l
	p.sc = scanner{ctx: ctx, buf: make([]byte, scanChunk)}
	m, err := p.buildMap(ctx)
	if err != nil {
		return err
	}
	passEnd := p.segs[m-1].next.Load()
	// Gaps become valid in these segments before any is swapped in.
	if err := l.allowGapsBelow(passEnd); err != nil {
		return err
	}
	p.wbuf = bufio.NewWriterSize(nil, 1<<20)
	for _, g := range groupSegments(p.segs[:m], p.segmentBytes) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.cleanGroup(ctx, g); err != nil {
			return err
		}
	}
	l.hook("checkpoint")
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.cleanerGen != p.gen {
		// Truncated meanwhile: the progress recorded by the truncation
		// stands.
		p.stats.FirstDirtyOffset = l.cleaner.firstDirty
		return nil
	}
	c := l.cleaner
	c.firstDirty = passEnd
	c.horizon = p.minHorizon
	if err := l.setCleanerLocked(c); err != nil {
		return err
	}
	p.stats.FirstDirtyOffset = passEnd
	return nil
}

// forEachBatch calls fn with every batch of segment s (whole, valid only
// during the call) and whether it is the segment's last.
func (p *compactPass) forEachBatch(s *segment, headersOnly bool, fn func(b []byte, h *Header, last bool) error) error {
	end := s.size.Load()
	p.sc.f, p.sc.bufLen = s.log, 0
	for pos := int64(0); pos < end; {
		if end-pos < HeaderSize {
			return fmt.Errorf("%w: segment %d has %d bytes after its last batch", ErrCorruptBatch, s.base, end-pos)
		}
		hb, err := p.sc.at(pos, HeaderSize)
		if err != nil {
			return fmt.Errorf("commitlog: compacting segment %d: %w", s.base, err)
		}
		h, err := ParseHeader(hb)
		if err != nil {
			return fmt.Errorf("commitlog: compacting segment %d at %d: %w", s.base, pos, err)
		}
		size := int64(h.Size())
		if pos+size > end {
			return fmt.Errorf("%w: segment %d: batch at %d runs past the end", ErrCorruptBatch, s.base, pos)
		}
		b := hb
		if !headersOnly {
			if b, err = p.sc.at(pos, int(size)); err != nil {
				return fmt.Errorf("commitlog: compacting segment %d: %w", s.base, err)
			}
		}
		if err := fn(b, &h, pos+size == end); err != nil {
			return err
		}
		pos += size
	}
	return nil
}

// records decodes the records of the whole batch b into p.recs.
func (p *compactPass) records(b []byte, h *Header) error {
	raw, err := decompressRecords(p.decomp, b, h, DefaultMaxUncompressedBytes)
	if err != nil {
		return fmt.Errorf("commitlog: compacting batch at offset %d: %w", h.BaseOffset, err)
	}
	if h.Compression() != CompressionNone {
		p.decomp = raw
	}
	p.recs, err = parseRecords(p.recs[:0], raw, h.NumRecords)
	if err != nil {
		return fmt.Errorf("commitlog: compacting batch at offset %d: %w", h.BaseOffset, err)
	}
	return nil
}

// compactable reports whether the cleaner may filter the batch's records.
func compactable(h *Header) bool { return !h.Control() && !h.Transactional() }

// buildMap records the last batch of each producer in the candidate
// segments and the latest offset of each key in the dirty ones, and
// returns how many segments the pass cleans.
func (p *compactPass) buildMap(ctx context.Context) (int, error) {
	p.keys = map[string]int64{}
	p.pidEnd = map[int64]int64{}
	var mapBytes int64
	m := len(p.segs)
	for i, s := range p.segs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		dirty := i >= p.dirty
		if dirty && i > p.dirty && mapBytes > p.opts.MaxMapBytes {
			m = i
			break
		}
		err := p.forEachBatch(s, !dirty, func(b []byte, h *Header, _ bool) error {
			if h.ProducerID >= 0 {
				p.pidEnd[h.ProducerID] = h.BaseOffset
			}
			if !dirty || !compactable(h) || h.LastOffset() < p.fd {
				return nil
			}
			if err := p.records(b, h); err != nil {
				return err
			}
			for _, r := range p.recs {
				off := h.BaseOffset + int64(r.offsetDelta)
				if r.key == nil || off < p.fd {
					continue
				}
				if _, ok := p.keys[string(r.key)]; !ok {
					mapBytes += int64(len(r.key)) + keyMapOverhead
				}
				p.keys[string(r.key)] = off
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	p.stats.Keys = len(p.keys)
	return m, nil
}

// cleanedFiles are the temporary files of a segment being rewritten.
type cleanedFiles struct {
	base                int64
	dir                 string
	log, offIdx, timIdx *os.File
}

func cleanedName(base int64, suffix string) string {
	return segmentName(base, suffix+cleanedSuffix)
}

// File name suffixes of compaction's temporary files.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

func (c *cleanedFiles) path(suffix string) string {
	return c.dir + string(os.PathSeparator) + cleanedName(c.base, suffix)
}

// remove closes and deletes the temporary files.
func (c *cleanedFiles) remove() {
	for _, f := range []*os.File{c.log, c.offIdx, c.timIdx} {
		if f != nil {
			_ = f.Close()
		}
	}
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		_ = os.Remove(c.path(suf))
	}
}

// groupSegments splits consecutive segments into the groups a pass
// rewrites as one segment each, like Kafka's cleaner: as many as fit in
// maxBytes by their current sizes (so segments that compaction shrank
// merge in a later pass), with offsets that fit the index's relative
// offsets.
func groupSegments(segs []*segment, maxBytes int64) [][]*segment {
	var groups [][]*segment
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].size.Load()
		for j < len(segs) && size+segs[j].size.Load() <= maxBytes && segs[j].next.Load()-segs[i].base <= math.MaxInt32 {
			size += segs[j].size.Load()
			j++
		}
		groups = append(groups, segs[i:j])
		i = j
	}
	return groups
}

// cleanGroup rewrites the consecutive segments of group into one segment
// (named by the first one's base offset) without the records the map and
// the delete horizons remove, and swaps it in if anything changed.
func (p *compactPass) cleanGroup(ctx context.Context, group []*segment) (err error) {
	l := p.l
	first, lastSeg := group[0], group[len(group)-1]
	olds := make([]oldSegment, len(group))
	var size int64
	for i, s := range group {
		olds[i] = oldSegment{s, s.truncGen.Load(), s.size.Load()}
		size += olds[i].size
	}
	cf := &cleanedFiles{base: first.base, dir: l.dir}
	defer func() {
		if cf != nil {
			cf.remove()
		}
	}()
	if cf.log, err = os.OpenFile(cf.path(logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		return fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
	}
	p.wbuf.Reset(cf.log)
	st := scanState{base: first.base, next: first.base, maxTs: -1, maxTsOffset: -1, rebuild: true, interval: p.interval, lastIndexedTs: -1}
	changed := len(group) > 1
	var outPos int64
	for _, s := range group {
		err = p.forEachBatch(s, false, func(b []byte, h *Header, last bool) error {
			out, ch, err := p.filterBatch(b, h, last && s == lastSeg)
			if err != nil {
				return err
			}
			changed = changed || ch
			if out == nil {
				return nil
			}
			if _, err := p.wbuf.Write(out); err != nil {
				return fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
			}
			nh, err := ParseHeader(out)
			if err != nil {
				return err
			}
			st.accept(&nh, outPos)
			outPos += int64(len(out))
			return nil
		})
		if err != nil {
			return err
		}
	}
	p.stats.SegmentsCleaned += len(group)
	p.stats.BytesBefore += size
	if !changed {
		p.stats.BytesAfter += size
		return nil
	}
	if err := p.wbuf.Flush(); err != nil {
		return fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
	}
	if st.maxTs > st.lastIndexedTs && st.maxTs >= 0 {
		st.timeEntries = appendTimeEntry(st.timeEntries, st.maxTs, uint32(st.maxTsOffset-first.base))
		st.lastIndexedTs = st.maxTs
	}
	for _, x := range []struct {
		f       **os.File
		suffix  string
		entries []byte
	}{{&cf.offIdx, indexSuffix, st.offEntries}, {&cf.timIdx, timeIndexSuffix, st.timeEntries}} {
		f, err := os.OpenFile(cf.path(x.suffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
		}
		*x.f = f
		if _, err := f.Write(x.entries); err != nil {
			return fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
		}
	}
	for _, f := range []*os.File{cf.log, cf.offIdx, cf.timIdx} {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("commitlog: compacting segment %d: fsync: %w", first.base, err)
		}
	}
	// Keep the age of the newest segment for time-based retention after
	// a restart (Open takes the file's modification time).
	mt := time.UnixMilli(lastSeg.lastWrite.Load())
	_ = os.Chtimes(cf.path(logSuffix), mt, mt)
	if err := ctx.Err(); err != nil {
		return err
	}
	l.hook("cleaned")
	swapped, err := l.swapCleaned(olds, cf, &st, outPos)
	if swapped {
		cf = nil // the files belong to the new segment now
		p.stats.SegmentsRewritten += len(group)
		p.stats.BytesAfter += outPos
	} else {
		p.stats.BytesAfter += size
	}
	return err
}

// oldSegment is a segment a pass read, with its truncation generation and
// size then: if either changed, the pass's output for it is stale.
type oldSegment struct {
	s    *segment
	gen  uint64
	size int64
}

// filterBatch returns the batch b (header h) as the cleaner keeps it: b
// itself, a rewritten batch (in p.out), or nil when it goes; changed
// reports whether it differs from b. last marks the segment's last batch.
func (p *compactPass) filterBatch(b []byte, h *Header, last bool) (out []byte, changed bool, err error) {
	if !compactable(h) {
		return b, false, nil
	}
	if err := p.records(b, h); err != nil {
		return nil, false, err
	}
	p.stats.RecordsRead += int64(len(p.recs))
	horizonSet := h.Attributes&AttrDeleteHorizon != 0
	expired := horizonSet && p.nowMs >= h.BaseTimestamp
	p.kept = p.kept[:0]
	tombstones := false
	for _, r := range p.recs {
		off := h.BaseOffset + int64(r.offsetDelta)
		switch latest, ok := p.keys[string(r.key)]; {
		case r.key == nil:
			p.stats.NullKeysRemoved++
		case ok && latest > off:
			p.stats.RecordsSuperseded++
		case r.value == nil && expired:
			p.stats.TombstonesRemoved++
		default:
			tombstones = tombstones || r.value == nil
			p.kept = append(p.kept, r)
		}
	}
	needHorizon := tombstones && !horizonSet
	if len(p.kept) == len(p.recs) && !needHorizon {
		if tombstones {
			p.noteHorizon(h.BaseTimestamp)
		}
		return b, false, nil
	}
	if len(p.kept) == 0 && !last && !(h.ProducerID >= 0 && p.pidEnd[h.ProducerID] == h.BaseOffset) {
		p.stats.BatchesRemoved++
		return nil, true, nil
	}
	if len(p.kept) == 0 {
		p.stats.EmptyBatchesKept++
	}
	rw := rewrite{attrs: h.Attributes, baseTs: h.BaseTimestamp}
	if h.Compression() == CompressionSnappy {
		payload := b[HeaderSize:h.Size()]
		rw.xerial = len(payload) >= len(xerialMagic) && string(payload[:len(xerialMagic)]) == string(xerialMagic)
	}
	if needHorizon {
		rw.attrs |= AttrDeleteHorizon
		rw.baseTs = p.nowMs + p.opts.DeleteRetention.Milliseconds()
	}
	if tombstones {
		p.noteHorizon(rw.baseTs)
	}
	p.out, p.encRaw, err = appendRewritten(p.out[:0], h, p.kept, rw, &p.enc, p.encRaw)
	if err != nil {
		return nil, false, fmt.Errorf("commitlog: compacting batch at offset %d: %w", h.BaseOffset, err)
	}
	return p.out, true, nil
}

// noteHorizon records the delete horizon of a kept batch with tombstones.
func (p *compactPass) noteHorizon(h int64) {
	if p.minHorizon < 0 || h < p.minHorizon {
		p.minHorizon = h
	}
}

// swapCleaned replaces the consecutive segments olds with their cleaned
// files (see the package comment of compact.go) unless one of them changed
// since the pass read it (truncated, deleted, or the active segment again):
// then it returns false and the caller removes the files.
func (l *Log) swapCleaned(olds []oldSegment, cf *cleanedFiles, st *scanState, newSize int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return false, err
	}
	segs := *l.segs.Load()
	first := olds[0].s
	i := slices.Index(segs, first)
	if i < 0 || i+len(olds) > len(segs)-1 {
		return false, nil
	}
	for k, o := range olds {
		if segs[i+k] != o.s || o.s == l.active || o.s.truncGen.Load() != o.gen || o.s.size.Load() != o.size {
			return false, nil
		}
	}
	offIdx, err := openIndex(cf.path(indexSuffix), offsetEntrySize, false)
	if err != nil {
		return false, fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
	}
	timeIdx, err := openIndex(cf.path(timeIndexSuffix), timeEntrySize, false)
	if err != nil {
		offIdx.close()
		return false, fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
	}
	swap := first.path(logSuffix + swapSuffix)
	if err := os.Rename(cf.path(logSuffix), swap); err != nil {
		offIdx.close()
		timeIdx.close()
		return false, fmt.Errorf("commitlog: compacting segment %d: %w", first.base, err)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		// The rename may or may not be durable: finish the swap on
		// disk either way, Open handles both.
		l.logger.Warn("commitlog: sync dir after compaction rename failed", "dir", l.dir, "err", err)
	}
	// Committed: from here Open completes the swap after a crash.
	l.hook("swap")
	var errs []error
	// The merged segments go like deleted ones: readers holding them keep
	// their files until they release them.
	for _, o := range olds[1:] {
		if err := o.s.markDeleted(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range [][2]string{
		{cf.path(indexSuffix), first.path(indexSuffix)},
		{cf.path(timeIndexSuffix), first.path(timeIndexSuffix)},
	} {
		if err := os.Rename(r[0], r[1]); err != nil {
			errs = append(errs, err)
		}
	}
	l.hook("indexes")
	if err := os.Rename(swap, first.path(logSuffix)); err != nil {
		errs = append(errs, err)
	}
	l.hook("renamed")
	if err := atomicfile.SyncDir(l.dir); err != nil {
		errs = append(errs, err)
	}
	// The descriptors follow the files through the renames.
	offIdx.path, timeIdx.path = first.path(indexSuffix), first.path(timeIndexSuffix)
	last := olds[len(olds)-1].s
	ns := &segment{base: first.base, dir: l.dir, log: cf.log, offIdx: offIdx, timeIdx: timeIdx, lastIndexedTs: st.lastIndexedTs, firstTs: -1, createdMs: first.createdMs}
	_ = cf.offIdx.Close()
	_ = cf.timIdx.Close()
	ns.refs.Store(1)
	ns.size.Store(newSize)
	ns.next.Store(last.next.Load())
	ns.setMax(st.maxTs, st.maxTsOffset)
	ns.lastWrite.Store(last.lastWrite.Load())
	ns.syncedTo = newSize
	fresh := make([]*segment, 0, len(segs)-len(olds)+1)
	fresh = append(fresh, segs[:i]...)
	fresh = append(fresh, ns)
	fresh = append(fresh, segs[i+len(olds):]...)
	l.segs.Store(&fresh)
	l.pendingSync = slices.DeleteFunc(l.pendingSync, func(p *segment) bool {
		return slices.ContainsFunc(olds, func(o oldSegment) bool { return o.s == p })
	})
	for _, o := range olds {
		o.s.release()
	}
	if len(errs) > 0 {
		// The new segment is in use, but its files may not have their
		// final names: stop writing until Open finishes the swap.
		l.failed = fmt.Errorf("commitlog: finishing compaction swap of segment %d: %w", first.base, errors.Join(errs...))
		l.logger.Error("commitlog: log failed", "dir", l.dir, "err", l.failed)
		return true, l.failed
	}
	return true, nil
}

// hook calls the test hook for a step of a pass, if one is set. Steps:
// "cleaned" (temporary files written and fsynced), "swap" (renamed to
// .swap: committed), "indexes" (merged segments renamed to .deleted,
// indexes renamed over the old ones), "renamed" (the log renamed), "checkpoint" (every segment done, before
// cleaner.checkpoint is written).
func (l *Log) hook(step string) {
	if l.compactHook != nil {
		l.compactHook(step)
	}
}
