package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chronik-go/chronik/core/internal/atomicfile"
)

// Open opens the partition log in dir, creating the directory and an empty
// log (base offset 0) if there is none, and recovers it:
//
//   - Compaction swaps that were committed (a *.log.swap file) are
//     finished first: the .swap replaces the segment's .log (and the
//     segments it merged) and its indexes are removed to be rebuilt. This is the one change Open makes
//     before its checks; it completes an operation that already happened.
//     Uncommitted compaction output (*.cleaned) is removed with the other
//     leftovers.
//   - Leftovers of interrupted operations (*.deleted, *.tmp, index files
//     without a .log) are removed.
//   - After an unclean shutdown every segment at or past the recovery point
//     (the first segment not known to be fsynced; always including the
//     last one) is scanned whole: every batch's header, base offset
//     continuity (gaps allowed below the cleaned end of
//     cleaner.checkpoint, where compaction removed batches) and CRC-32C
//     are checked and its indexes are rebuilt.
//   - Other segments get a tail check: the last index entries must point at
//     the batches they name, and the batches after them must be valid. A
//     segment whose index is missing, malformed or inconsistent is scanned
//     whole and its indexes rebuilt.
//   - Damage (a partial batch, a bad header or CRC, a base offset that does
//     not continue the log, zeros) at the end of the log is a torn write:
//     the segment is truncated at the last valid batch and any later
//     segments holding no valid batch are removed. No valid batch before
//     the damage is ever dropped.
//   - Damage followed by valid data — a valid batch continuing the log
//     found after the damage in the same segment, a later segment holding
//     valid batches, or segments that do not continue each other — is not
//     repaired, since that would drop valid data: Open returns
//     ErrCorruptLog and leaves every file as it was (unless
//     Options.TruncateOnCorruption asks for the repair).
//
// The log start offset comes from commitlog.checkpoint (at least the first
// segment's base offset) and the leader epochs from
// leader-epoch.checkpoint, rebuilt from the batches if that file is missing
// or damaged. Open takes an exclusive lock on the directory until Close.
//
// Recovery reads segment data and may take a while for large segments after
// a crash; ctx cancels it (Open then returns ctx's error and has changed
// nothing).
func Open(ctx context.Context, dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("commitlog: creating %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:    dir,
		logger: opts.Logger,
		now:    opts.Now,
		unlock: unlock,
		cfg:    cfg,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		epochs: epochCache{dir: dir},
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if err := l.recover(ctx, opts.TruncateOnCorruption); err != nil {
		unlock()
		return nil, err
	}
	l.wg.Add(1)
	go l.run()
	return l, nil
}

// segPlan is what recovery learned about one segment.
type segPlan struct {
	seg      *segment
	fileSize int64
	gapsOK   bool // compaction may have left offset gaps (cleaner.checkpoint)
	st       scanState
	full     bool // scanned whole: indexes rebuilt in st
	middle   bool // damage followed by a valid batch in the same segment
}

// scanState accumulates a walk over a segment's batches.
type scanState struct {
	next        int64 // offset expected next
	validEnd    int64 // end of the last valid batch
	batches     int
	maxTs       int64
	maxTsOffset int64
	base        int64 // the segment's base offset
	gapsOK      bool  // compaction may have left offset gaps between batches
	damage      error // why the walk stopped early, nil at the end of the file
	damagePos   int64

	// Rebuilding indexes (full scans).
	rebuild         bool
	interval        int
	offEntries      []byte
	timeEntries     []byte
	bytesSinceIndex int
	lastIndexedTs   int64
}

// scanner reads a segment file sequentially through a buffer.
type scanner struct {
	ctx    context.Context // checked at every refill
	f      *os.File
	buf    []byte
	bufPos int64
	bufLen int
}

const scanChunk = 1 << 20

// at returns the file bytes [pos, pos+n), valid until the next call.
func (sc *scanner) at(pos int64, n int) ([]byte, error) {
	if pos >= sc.bufPos && pos+int64(n) <= sc.bufPos+int64(sc.bufLen) {
		off := pos - sc.bufPos
		return sc.buf[off : off+int64(n)], nil
	}
	if n > len(sc.buf) {
		big := make([]byte, n)
		if _, err := sc.f.ReadAt(big, pos); err != nil {
			return nil, err
		}
		return big, nil
	}
	if err := sc.ctx.Err(); err != nil {
		return nil, err
	}
	m, err := sc.f.ReadAt(sc.buf, pos)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		sc.bufLen = 0
		return nil, err
	}
	sc.bufPos, sc.bufLen = pos, m
	return sc.buf[:n], nil
}

// errTorn and errBadBatch describe the damage recovery found.
var (
	errTorn     = errors.New("partial batch")
	errBadBatch = errors.New("invalid batch")
)

// walk validates batches from pos (whose base offset must be st.next) up
// to end, updating st and calling visit (if not nil) for each valid batch;
// it stops at the first damage (st.damage) or at end. It returns only I/O
// errors.
func (st *scanState) walk(sc *scanner, pos, end int64, visit func(h *Header)) error {
	for pos < end {
		if end-pos < HeaderSize {
			st.damage, st.damagePos = fmt.Errorf("%w: %d bytes at the end, less than a header", errTorn, end-pos), pos
			return nil
		}
		hb, err := sc.at(pos, HeaderSize)
		if err != nil {
			return err
		}
		h, err := ParseHeader(hb)
		if err != nil {
			st.damage, st.damagePos = fmt.Errorf("%w: %w", errBadBatch, err), pos
			return nil
		}
		size := int64(h.Size())
		if pos+size > end {
			st.damage, st.damagePos = fmt.Errorf("%w: batch of %d bytes, %d left", errTorn, size, end-pos), pos
			return nil
		}
		if h.BaseOffset < st.next || (h.BaseOffset > st.next && !st.gapsOK) {
			st.damage, st.damagePos = fmt.Errorf("%w: base offset %d, expected %d", errBadBatch, h.BaseOffset, st.next), pos
			return nil
		}
		if err := checkStoredHeader(&h); err != nil {
			st.damage, st.damagePos = fmt.Errorf("%w: %w", errBadBatch, err), pos
			return nil
		}
		b, err := sc.at(pos, int(size))
		if err != nil {
			return err
		}
		if !CRCValid(b) {
			st.damage, st.damagePos = fmt.Errorf("%w: CRC mismatch", errBadBatch), pos
			return nil
		}
		st.accept(&h, pos)
		if visit != nil {
			visit(&h)
		}
		pos += size
	}
	return nil
}

// accept records a valid batch at pos.
func (st *scanState) accept(h *Header, pos int64) {
	st.batches++
	if h.MaxTimestamp > st.maxTs {
		st.maxTs, st.maxTsOffset = h.MaxTimestamp, h.BaseOffset
	}
	st.next = h.NextOffset()
	st.validEnd = pos + int64(h.Size())
	if !st.rebuild {
		return
	}
	st.bytesSinceIndex += h.Size()
	if st.bytesSinceIndex < st.interval {
		return
	}
	st.bytesSinceIndex = 0
	st.offEntries = appendOffsetEntry(st.offEntries, uint32(h.BaseOffset-st.base), uint32(pos))
	if st.maxTs > st.lastIndexedTs && st.maxTs >= 0 {
		st.timeEntries = appendTimeEntry(st.timeEntries, st.maxTs, uint32(st.maxTsOffset-st.base))
		st.lastIndexedTs = st.maxTs
	}
}

// findValidAfter reports whether a valid batch with a base offset >=
// minBase starts anywhere in [from, end) of f: the test that tells a torn
// tail (nothing valid after the damage) from corruption in the middle.
func findValidAfter(ctx context.Context, f *os.File, from, end, minBase int64) (bool, int64, error) {
	const window = 1 << 20
	buf := make([]byte, window)
	for start := from; start+HeaderSize <= end; {
		if err := ctx.Err(); err != nil {
			return false, 0, err
		}
		n := int(min(int64(window), end-start))
		if _, err := f.ReadAt(buf[:n], start); err != nil {
			return false, 0, err
		}
		for i := 0; i+HeaderSize <= n; i++ {
			b := buf[i:n]
			if b[offMagic] != 2 {
				continue
			}
			h, err := ParseHeader(b)
			if err != nil || h.BaseOffset < minBase || checkStoredHeader(&h) != nil {
				continue
			}
			pos := start + int64(i)
			size := int64(h.Size())
			if pos+size > end {
				continue
			}
			var whole []byte
			if int64(i)+size <= int64(n) {
				whole = b[:size]
			} else {
				whole = make([]byte, size)
				if _, err := f.ReadAt(whole, pos); err != nil {
					return false, 0, err
				}
			}
			if CRCValid(whole) {
				return true, pos, nil
			}
		}
		if start+int64(n) >= end {
			break
		}
		start += int64(n - HeaderSize + 1)
	}
	return false, 0, nil
}

// recover loads and repairs the directory (see Open). Nothing is modified
// until every check has passed.
func (l *Log) recover(ctx context.Context, truncateOnCorruption bool) (err error) {
	cc, ccExists, ccDamaged, err := readCleanerCheckpoint(l.dir)
	if err != nil {
		return err
	}
	if ccDamaged {
		l.logger.Warn("commitlog: damaged cleaner checkpoint; allowing compaction gaps in every segment", "dir", l.dir)
	}
	if err := finishSwaps(l.dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("commitlog: reading %s: %w", l.dir, err)
	}
	var (
		cleanup []string
		bases   []int64
		indexes = map[int64][]string{}
	)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, tmpSuffix) || strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, cleanedSuffix) {
			cleanup = append(cleanup, name)
			continue
		}
		base, suf, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		switch suf {
		case logSuffix:
			bases = append(bases, base)
		case indexSuffix, timeIndexSuffix:
			indexes[base] = append(indexes[base], name)
		}
	}
	slices.Sort(bases)
	for base, names := range indexes {
		if _, found := slices.BinarySearch(bases, base); !found {
			cleanup = append(cleanup, names...)
		}
	}

	ckpt := logCheckpoint{}
	switch b, rerr := os.ReadFile(filepath.Join(l.dir, checkpointFile)); {
	case rerr == nil:
		c, derr := decodeLogCheckpoint(b)
		if derr != nil {
			l.logger.Warn("commitlog: damaged checkpoint ignored; scanning every segment", "dir", l.dir)
		} else {
			ckpt = c
		}
	case errors.Is(rerr, fs.ErrNotExist):
		if len(bases) > 0 {
			l.logger.Warn("commitlog: no checkpoint; scanning every segment", "dir", l.dir)
		}
	default:
		return fmt.Errorf("commitlog: reading checkpoint: %w", rerr)
	}

	plans := make([]*segPlan, 0, len(bases))
	defer func() {
		if err != nil {
			for _, p := range plans {
				p.seg.release()
			}
		}
	}()
	for _, base := range bases {
		s, oerr := openSegment(l.dir, base, false)
		if oerr != nil {
			return oerr
		}
		plans = append(plans, &segPlan{seg: s})
	}

	sc := &scanner{ctx: ctx, buf: make([]byte, scanChunk)}
	for i, p := range plans {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("commitlog: opening %s: %w", l.dir, cerr)
		}
		st, serr := p.seg.log.Stat()
		if serr != nil {
			return fmt.Errorf("commitlog: stat segment %d: %w", p.seg.base, serr)
		}
		p.fileSize = st.Size()
		p.gapsOK = p.seg.base < cc.cleanedEnd
		full := !ckpt.clean && p.seg.base >= ckpt.recoveryPoint || i == len(plans)-1 && !ckpt.clean
		if !full {
			ok, terr := l.tailCheck(p, sc)
			if terr != nil {
				return terr
			}
			full = !ok
		}
		if full {
			if ferr := l.fullScan(p, sc); ferr != nil {
				return ferr
			}
		}
	}
	sc.buf = nil

	// Decide what to keep: the first damage must be at the very end of
	// the log, and the kept segments must continue each other.
	keep := len(plans)
	for i, p := range plans {
		if p.st.damage == nil {
			continue
		}
		later := -1
		for j := i + 1; j < len(plans); j++ {
			if plans[j].st.batches > 0 || plans[j].middle {
				later = j
				break
			}
		}
		if p.middle || later >= 0 {
			what := "a valid batch follows it in the segment"
			if !p.middle {
				what = fmt.Sprintf("segment %d after it holds valid batches", plans[later].seg.base)
			}
			if !truncateOnCorruption {
				return fmt.Errorf("%w: %s: segment %d is damaged at byte %d (%v) and %s; refusing to truncate valid data (Options.TruncateOnCorruption repairs by truncating)",
					ErrCorruptLog, l.dir, p.seg.base, p.st.damagePos, p.st.damage, what)
			}
			l.logger.Warn("commitlog: truncating at corruption, dropping later data", "dir", l.dir, "segment", p.seg.base, "position", p.st.damagePos, "damage", p.st.damage.Error())
		}
		keep = i + 1
		break
	}
	for i := 1; i < keep; i++ {
		prev, cur := plans[i-1], plans[i]
		if cur.seg.base == prev.st.next {
			continue
		}
		if !truncateOnCorruption {
			return fmt.Errorf("%w: %s: segment %d starts at offset %d but the previous segment ends at %d",
				ErrCorruptLog, l.dir, cur.seg.base, cur.seg.base, prev.st.next)
		}
		l.logger.Warn("commitlog: segments do not continue each other, dropping later data", "dir", l.dir, "segment", cur.seg.base)
		keep = i
		break
	}

	// Apply.
	for _, name := range cleanup {
		if rerr := os.Remove(filepath.Join(l.dir, name)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("commitlog: removing leftover %s: %w", name, rerr)
		}
	}
	for _, p := range plans[keep:] {
		if derr := p.seg.markDeleted(); derr != nil {
			return derr
		}
		l.logger.Warn("commitlog: removed segment after the end of the log", "dir", l.dir, "segment", p.seg.base)
		p.seg.release()
	}
	plans = plans[:keep]
	if keep < len(bases) || len(cleanup) > 0 {
		if derr := atomicfile.SyncDir(l.dir); derr != nil {
			return fmt.Errorf("commitlog: sync dir: %w", derr)
		}
	}
	for i, p := range plans {
		if aerr := l.applyPlan(p, i == len(plans)-1); aerr != nil {
			return aerr
		}
	}
	if len(plans) == 0 {
		s, cerr := openSegment(l.dir, ckpt.logStartOffset, true)
		if cerr != nil {
			return cerr
		}
		s.createdMs = l.now().UnixMilli()
		p := &segPlan{seg: s, full: true, st: l.newScan(s, true)}
		plans = append(plans, p)
		if aerr := l.applyPlan(p, true); aerr != nil {
			return aerr
		}
		if derr := atomicfile.SyncDir(l.dir); derr != nil {
			return fmt.Errorf("commitlog: sync dir: %w", derr)
		}
	}

	segs := make([]*segment, len(plans))
	for i, p := range plans {
		segs[i] = p.seg
	}
	l.segs.Store(&segs)
	l.active = segs[len(segs)-1]
	leo := l.active.next.Load()
	l.endOffset.Store(leo)
	l.startOffset.Store(min(max(ckpt.logStartOffset, segs[0].base), leo))

	if eerr := l.loadEpochs(); eerr != nil {
		return eerr
	}
	l.cleaner, l.cleanerOnDisk = cc, ccExists && !ccDamaged
	if ccDamaged {
		if werr := l.setCleanerLocked(cc); werr != nil {
			return werr
		}
	}

	rp := ckpt.recoveryPoint
	if ckpt.clean {
		rp = l.active.base
	}
	l.ckptMu.Lock()
	l.recoveryPoint = min(rp, l.active.base)
	cerr := l.writeCheckpointLocked(false)
	l.ckptMu.Unlock()
	return cerr
}

// finishSwaps completes compaction swaps that were committed (a
// <base>.log.swap exists) when the process stopped: the segments the
// .swap replaces (the one at its base offset and, when compaction merged
// several, those with base offsets up to the offset after its last batch)
// are removed, the .swap becomes the segment's .log and its indexes are
// rebuilt later by recovery. The uncommitted *.cleaned files are left for
// the cleanup of recover.
func finishSwaps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("commitlog: reading %s: %w", dir, err)
	}
	done := false
	for _, e := range entries {
		base, suf, ok := parseSegmentName(e.Name())
		if !ok || suf != logSuffix+swapSuffix {
			continue
		}
		end, err := swapEnd(filepath.Join(dir, e.Name()), base)
		if err != nil {
			return fmt.Errorf("commitlog: finishing compaction of segment %d: %w", base, err)
		}
		remove := []string{
			segmentName(base, indexSuffix), segmentName(base, timeIndexSuffix),
			cleanedName(base, indexSuffix), cleanedName(base, timeIndexSuffix),
		}
		for _, o := range entries {
			ob, osuf, ok := parseSegmentName(o.Name())
			if ok && ob > base && ob < end && (osuf == logSuffix || osuf == indexSuffix || osuf == timeIndexSuffix) {
				remove = append(remove, o.Name())
			}
		}
		for _, name := range remove {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("commitlog: finishing compaction of segment %d: %w", base, err)
			}
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, segmentName(base, logSuffix))); err != nil {
			return fmt.Errorf("commitlog: finishing compaction of segment %d: %w", base, err)
		}
		done = true
	}
	if done {
		if err := atomicfile.SyncDir(dir); err != nil {
			return fmt.Errorf("commitlog: sync dir: %w", err)
		}
	}
	return nil
}

// swapEnd returns the offset after the last batch of a .swap file (written
// whole and fsynced before it was renamed to .swap), walking its headers;
// base when it holds none.
func swapEnd(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := base
	var buf [HeaderSize]byte
	for pos := int64(0); pos+HeaderSize <= st.Size(); {
		if _, err := f.ReadAt(buf[:], pos); err != nil {
			return 0, err
		}
		h, err := ParseHeader(buf[:])
		if err != nil {
			return 0, fmt.Errorf("%w: compacted segment %s: %w", ErrCorruptLog, path, err)
		}
		end = h.NextOffset()
		pos += int64(h.Size())
	}
	return end, nil
}

// newScan returns a scan state for a segment starting at byte 0.
func (l *Log) newScan(s *segment, rebuild bool) scanState {
	return scanState{
		base: s.base, next: s.base, maxTs: -1, maxTsOffset: -1,
		rebuild: rebuild, interval: l.cfg.IndexIntervalBytes, lastIndexedTs: -1,
	}
}

// fullScan walks the whole segment, rebuilding its indexes in p.st, and
// classifies any damage.
func (l *Log) fullScan(p *segPlan, sc *scanner) error {
	p.full = true
	p.st = l.newScan(p.seg, true)
	p.st.gapsOK = p.gapsOK
	sc.f, sc.bufLen = p.seg.log, 0
	if err := p.st.walk(sc, 0, p.fileSize, nil); err != nil {
		return fmt.Errorf("commitlog: scanning segment %d: %w", p.seg.base, err)
	}
	if p.st.damage == nil {
		return nil
	}
	found, at, err := findValidAfter(sc.ctx, p.seg.log, p.st.damagePos+1, p.fileSize, p.st.next)
	if err != nil {
		return fmt.Errorf("commitlog: scanning segment %d: %w", p.seg.base, err)
	}
	if found {
		p.middle = true
		p.st.damage = fmt.Errorf("%w; a valid batch starts at byte %d", p.st.damage, at)
	}
	return nil
}

// tailCheck validates a segment from its last index entries to its end.
// ok=false means the indexes cannot be trusted (or the tail is damaged)
// and the segment needs a full scan.
func (l *Log) tailCheck(p *segPlan, sc *scanner) (bool, error) {
	s := p.seg
	for _, x := range []*index{s.offIdx, s.timeIdx} {
		if x.created && p.fileSize > 0 {
			l.logger.Warn("commitlog: missing index, rebuilding", "dir", l.dir, "segment", s.base)
			return false, nil
		}
		valid, err := x.fileValid()
		if err != nil {
			return false, fmt.Errorf("commitlog: stat index of segment %d: %w", s.base, err)
		}
		if !valid {
			l.logger.Warn("commitlog: malformed index, rebuilding", "dir", l.dir, "segment", s.base)
			return false, nil
		}
	}
	var hbuf [HeaderSize]byte
	// checkAt verifies that an index points at the batch it names.
	checkAt := func(pos, off int64) bool {
		if pos == 0 && off == s.base {
			return true
		}
		if pos < 0 || pos >= p.fileSize {
			return false
		}
		h, err := s.headerAt(pos, &hbuf)
		return err == nil && h.BaseOffset == off
	}
	startPos, startOff := int64(0), s.base
	if n := s.offIdx.count(); n > 0 {
		e, _, err := s.offIdx.entryAt(n - 1)
		if err != nil {
			return false, err
		}
		rel, pos := decodeOffsetEntry(e[:])
		if !checkAt(int64(pos), s.base+int64(rel)) {
			l.logger.Warn("commitlog: index does not match the log, rebuilding", "dir", l.dir, "segment", s.base)
			return false, nil
		}
		startPos, startOff = int64(pos), s.base+int64(rel)
	}
	st := l.newScan(s, false)
	st.gapsOK = p.gapsOK
	timeOff, timeTs := int64(-1), int64(-1)
	if n := s.timeIdx.count(); n > 0 {
		e, _, err := s.timeIdx.entryAt(n - 1)
		if err != nil {
			return false, err
		}
		ts, rel := decodeTimeEntry(e[:])
		timeOff, timeTs = s.base+int64(rel), ts
		if timeOff < startOff {
			pos, off, err := s.floorPosition(timeOff)
			if err != nil {
				return false, err
			}
			if !checkAt(pos, off) {
				return false, nil
			}
			startPos, startOff = pos, off
		}
		st.maxTs, st.maxTsOffset = ts, timeOff
		st.lastIndexedTs = ts
	}
	st.next = startOff
	sc.f, sc.bufLen = s.log, 0
	seenTime := timeOff < 0
	err := st.walk(sc, startPos, p.fileSize, func(h *Header) {
		if h.BaseOffset == timeOff {
			seenTime = h.MaxTimestamp == timeTs
		}
	})
	if err != nil {
		return false, fmt.Errorf("commitlog: checking segment %d: %w", s.base, err)
	}
	if st.damage != nil {
		return false, nil
	}
	if !seenTime {
		l.logger.Warn("commitlog: time index does not match the log, rebuilding", "dir", l.dir, "segment", s.base)
		return false, nil
	}
	p.st = st
	p.st.bytesSinceIndex = int(p.fileSize - startPos)
	return true, nil
}

// applyPlan carries out recovery for one kept segment and publishes its
// state; last marks the active segment.
func (l *Log) applyPlan(p *segPlan, last bool) error {
	s := p.seg
	if p.st.damage != nil {
		l.logger.Warn("commitlog: truncating torn tail", "dir", l.dir, "segment", s.base,
			"position", p.st.validEnd, "dropped_bytes", p.fileSize-p.st.validEnd, "damage", p.st.damage.Error())
		if err := s.log.Truncate(p.st.validEnd); err != nil {
			return fmt.Errorf("commitlog: truncating segment %d: %w", s.base, err)
		}
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("commitlog: truncating segment %d: %w", s.base, err)
		}
	}
	if p.full {
		if !last && p.st.maxTs > p.st.lastIndexedTs && p.st.maxTs >= 0 {
			// A sealed segment's time index ends with its max.
			p.st.timeEntries = appendTimeEntry(p.st.timeEntries, p.st.maxTs, uint32(p.st.maxTsOffset-s.base))
			p.st.lastIndexedTs = p.st.maxTs
		}
		if err := s.offIdx.replace(p.st.offEntries, last); err != nil {
			return err
		}
		if err := s.timeIdx.replace(p.st.timeEntries, last); err != nil {
			return err
		}
	} else if last {
		if err := s.offIdx.activate(); err != nil {
			return err
		}
		if err := s.timeIdx.activate(); err != nil {
			return err
		}
	}
	size := p.st.validEnd
	if !p.full && p.st.damage == nil {
		size = p.fileSize
	}
	s.size.Store(size)
	s.next.Store(p.st.next)
	s.setMax(p.st.maxTs, p.st.maxTsOffset)
	if fi, err := s.log.Stat(); err == nil {
		s.lastWrite.Store(fi.ModTime().UnixMilli())
	}
	if last {
		s.bytesSinceIndex = p.st.bytesSinceIndex
		s.lastIndexedTs = p.st.lastIndexedTs
		s.createdMs = l.now().UnixMilli()
		if size > 0 {
			// segment.ms counts from the first batch's timestamp.
			var hb [HeaderSize]byte
			if h, err := s.headerAt(0, &hb); err == nil {
				s.hasFirst, s.firstTs = true, h.MaxTimestamp
			}
		}
	}
	return nil
}

// loadEpochs reads the leader epoch checkpoint, rebuilding it from the
// batches when it is missing (with data in the log) or damaged, and trims
// it to the log's offsets.
func (l *Log) loadEpochs() error {
	b, err := os.ReadFile(filepath.Join(l.dir, epochCheckpointFile))
	var entries []EpochEntry
	switch {
	case err == nil:
		entries, err = decodeEpochs(b)
		if err != nil {
			l.logger.Warn("commitlog: damaged leader epoch checkpoint, rebuilding from the log", "dir", l.dir)
			entries = nil
		}
	case errors.Is(err, fs.ErrNotExist):
		if l.Size() == 0 {
			return nil
		}
		l.logger.Warn("commitlog: no leader epoch checkpoint, rebuilding from the log", "dir", l.dir)
	default:
		return fmt.Errorf("commitlog: reading leader epoch checkpoint: %w", err)
	}
	if entries == nil && l.Size() > 0 {
		var scanErr error
		err = l.ScanHeaders(0, func(h Header) bool {
			if h.PartitionLeaderEpoch < 0 {
				return true
			}
			if n := len(entries); n == 0 || h.PartitionLeaderEpoch > entries[n-1].Epoch {
				entries = append(entries, EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
			}
			return true
		})
		if err == nil {
			err = scanErr
		}
		if err != nil {
			return fmt.Errorf("commitlog: rebuilding leader epochs: %w", err)
		}
		if err := l.epochs.set(entries); err != nil {
			return err
		}
	}
	l.epochs.entries = entries
	if err := l.epochs.truncateFromEnd(l.endOffset.Load()); err != nil {
		return err
	}
	return l.epochs.truncateFromStart(l.startOffset.Load())
}
