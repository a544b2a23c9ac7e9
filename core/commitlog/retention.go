package commitlog

import (
	"errors"
	"fmt"
	"slices"

	"github.com/chronik-go/chronik/core/internal/atomicfile"
)

// Truncate removes every record at and after offset to (a replica
// truncating to its leader's epoch boundary). Batches are atomic: if to
// falls inside a batch the whole batch goes, so the new log end offset may
// be below to. to >= LogEndOffset is a no-op; to below LogStartOffset
// empties the log and restarts it at to (Reset). Later segments are
// deleted, the leader epoch checkpoint is trimmed and the change is made
// durable (directory fsync). Readers racing with it retry or see the
// shorter log; a Read that already returned data past the new end is not
// recalled, which is why consumers read only up to the high watermark and
// truncation never goes below it.
func (l *Log) Truncate(to int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if to >= l.endOffset.Load() {
		return nil
	}
	if to < l.startOffset.Load() {
		return l.resetLocked(to)
	}
	segs := *l.segs.Load()
	i, s := segmentFor(segs, to)
	if s == nil {
		return l.resetLocked(to)
	}
	end := s.size.Load()
	pos, h, found, err := s.locate(to, end, -1)
	if err != nil {
		return fmt.Errorf("commitlog: truncating to %d: %w", to, err)
	}
	newNext := s.next.Load()
	if found {
		newNext = h.BaseOffset
	} else {
		pos = end
	}
	tr, err := s.planTruncation(pos, newNext)
	if err != nil {
		return fmt.Errorf("commitlog: truncating to %d: %w", to, err)
	}

	// Readers first: offsets past newNext are out of range from now on.
	l.endOffset.Store(newNext)
	cerr := l.noteTruncation(newNext, false)
	l.cache.clear()
	kept := slices.Clone(segs[:i+1])
	l.segs.Store(&kept)
	firstErr := cerr
	for j := len(segs) - 1; j > i; j-- {
		d := segs[j]
		d.truncGen.Add(1)
		if err := d.markDeleted(); err != nil && firstErr == nil {
			firstErr = err
		}
		d.release()
	}
	if err := l.truncateSegment(s, tr); err != nil && firstErr == nil {
		firstErr = err
	}
	if s != l.active {
		l.active = s
		if err := s.offIdx.activate(); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := s.timeIdx.activate(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	l.pendingSync = slices.DeleteFunc(l.pendingSync, func(p *segment) bool { return p.deleted.Load() || p == s })
	if err := l.epochs.truncateFromEnd(newNext); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := l.setRecoveryPoint(s.base, true); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		l.failed = firstErr
		l.logger.Error("commitlog: log failed", "dir", l.dir, "err", firstErr)
	}
	l.notify()
	return firstErr
}

// truncation is what truncating a segment at pos (keeping offsets below
// next) leaves: computed before anything changes, from data that stays.
type truncation struct {
	pos, next     int64
	offEntries    int // index entries kept
	timeEntries   int // time index entries kept
	maxTs, maxOff int64
	lastIndexedTs int64
}

// planTruncation computes a truncation without modifying anything.
func (s *segment) planTruncation(pos, next int64) (truncation, error) {
	tr := truncation{pos: pos, next: next, maxTs: -1, maxOff: -1, lastIndexedTs: -1}
	var err error
	tr.offEntries, err = s.offIdx.search(func(e []byte) bool {
		_, p := decodeOffsetEntry(e)
		return int64(p) < pos
	})
	if err != nil {
		return tr, err
	}
	tr.timeEntries, err = s.timeIdx.search(func(e []byte) bool {
		_, rel := decodeTimeEntry(e)
		return s.base+int64(rel) < next
	})
	if err != nil {
		return tr, err
	}
	// The max timestamp: the last time entry kept, then every batch from
	// the one it names.
	start := int64(0)
	e, ok, err := s.timeIdx.entryAt(tr.timeEntries - 1)
	if err != nil {
		return tr, err
	}
	if ok {
		ts, rel := decodeTimeEntry(e[:])
		tr.maxTs, tr.maxOff, tr.lastIndexedTs = ts, s.base+int64(rel), ts
		if p, _, found, err := s.locate(tr.maxOff, pos, -1); err == nil && found {
			start = p
		}
	}
	var buf [HeaderSize]byte
	for p := start; p+HeaderSize <= pos; {
		h, err := s.headerAt(p, &buf)
		if err != nil {
			return tr, fmt.Errorf("commitlog: rescanning segment %d: %w", s.base, err)
		}
		if h.MaxTimestamp > tr.maxTs {
			tr.maxTs, tr.maxOff = h.MaxTimestamp, h.BaseOffset
		}
		p += int64(h.Size())
	}
	return tr, nil
}

// truncateSegment applies a planned truncation: it publishes the new state
// to readers (max timestamp first, as it describes data that stays), then
// cuts the files (writer only).
func (l *Log) truncateSegment(s *segment, tr truncation) error {
	s.setMax(tr.maxTs, tr.maxOff)
	s.truncGen.Add(1)
	s.size.Store(tr.pos)
	s.next.Store(tr.next)
	s.lastIndexedTs = tr.lastIndexedTs
	s.bytesSinceIndex = 0
	if tr.pos == 0 {
		s.hasFirst, s.firstTs = false, -1
		s.createdMs = l.now().UnixMilli()
	}
	if err := s.log.Truncate(tr.pos); err != nil {
		return fmt.Errorf("commitlog: truncating segment %d: %w", s.base, err)
	}
	if err := s.offIdx.truncate(tr.offEntries); err != nil {
		return err
	}
	return s.timeIdx.truncate(tr.timeEntries)
}

// Reset empties the log and restarts it at offset: every segment is
// deleted, a new empty one starts at offset, and the log start and end
// offsets both become offset (Kafka's truncateFullyAndStartAt, for a
// replica that fell behind its leader's log start). The leader epoch
// checkpoint is cleared.
func (l *Log) Reset(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: reset to %d", ErrOffsetOutOfRange, offset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.resetLocked(offset)
}

func (l *Log) resetLocked(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: reset to %d", ErrOffsetOutOfRange, offset)
	}
	l.ckptMu.Lock()
	l.recoveryPoint = offset
	l.startOffset.Store(offset)
	err := l.writeCheckpointLocked(false)
	l.ckptMu.Unlock()
	if err != nil {
		return err
	}
	l.endOffset.Store(offset)
	l.cache.clear()
	if err := l.noteTruncation(offset, true); err != nil {
		l.failed = err
		return err
	}
	segs := *l.segs.Load()
	for j := len(segs) - 1; j >= 0; j-- {
		d := segs[j]
		d.truncGen.Add(1)
		if err := d.markDeleted(); err != nil {
			l.failed = err
			return err
		}
	}
	s, err := openSegment(l.dir, offset, true)
	if err == nil {
		s.createdMs = l.now().UnixMilli()
		err = s.offIdx.activate()
	}
	if err == nil {
		err = s.timeIdx.activate()
	}
	if err != nil {
		l.failed = err
		return err
	}
	fresh := []*segment{s}
	l.segs.Store(&fresh)
	l.active = s
	l.pendingSync = nil
	for _, d := range segs {
		d.release()
	}
	if err := l.epochs.set(nil); err != nil {
		l.failed = err
		return err
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		l.failed = err
		return err
	}
	l.notify()
	return nil
}

// DeleteRecordsBefore advances the log start offset to offset (the
// DeleteRecords API): reads below it fail with ErrOffsetOutOfRange and
// segments wholly below it are deleted. The new start is persisted in
// commitlog.checkpoint before it returns, so it survives a restart. offset
// above LogEndOffset is ErrOffsetOutOfRange; at or below the current start
// it is a no-op. The partition layer keeps offset at or below the high
// watermark. It returns the log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	lso, leo := l.startOffset.Load(), l.endOffset.Load()
	if offset > leo {
		return lso, fmt.Errorf("%w: delete records before %d, log end offset is %d", ErrOffsetOutOfRange, offset, leo)
	}
	if offset <= lso {
		return lso, nil
	}
	l.ckptMu.Lock()
	l.startOffset.Store(offset)
	err := l.writeCheckpointLocked(false)
	l.ckptMu.Unlock()
	if err != nil {
		// Not persisted: keep serving the old start.
		l.startOffset.Store(lso)
		return lso, err
	}
	if err := l.epochs.truncateFromStart(offset); err != nil {
		return offset, err
	}
	segs := *l.segs.Load()
	k := 0
	for k < len(segs)-1 && segs[k+1].base <= offset {
		k++
	}
	_, err = l.deleteFront(k)
	return offset, err
}

// RetentionResult reports what EnforceRetention deleted.
type RetentionResult struct {
	DeletedSegments int
	DeletedBytes    int64
	LogStartOffset  int64
}

// EnforceRetention deletes the oldest segments that retention allows,
// never the active one and never one holding offsets at or above
// highWatermark (pass LogEndOffset when there is no replication): first
// segments whose newest timestamp (their largest batch max timestamp, or
// their file's modification time if none has one) is older than
// RetentionMs, then, oldest first, segments the log can lose while staying
// at least RetentionBytes large, then segments wholly below the log start
// offset. The log start offset moves to the first remaining segment. The
// partition layer calls it periodically (Kafka's
// log.retention.check.interval.ms).
func (l *Log) EnforceRetention(highWatermark int64) (RetentionResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return RetentionResult{}, err
	}
	segs := *l.segs.Load()
	lso := l.startOffset.Load()
	nowMs := l.now().UnixMilli()
	// deletable reports whether segs[k] may go at all.
	deletable := func(k int) bool { return k < len(segs)-1 && segs[k+1].base <= highWatermark }
	k := 0
	if l.cfg.RetentionMs >= 0 {
		limit := nowMs - l.cfg.RetentionMs.Milliseconds()
		for deletable(k) {
			ts := segs[k].maxTs.Load()
			if ts < 0 {
				ts = segs[k].lastWrite.Load()
			}
			if ts >= limit {
				break
			}
			k++
		}
	}
	if l.cfg.RetentionBytes >= 0 {
		var size int64
		for _, s := range segs[k:] {
			size += s.size.Load()
		}
		diff := size - l.cfg.RetentionBytes
		for deletable(k) && diff-segs[k].size.Load() >= 0 {
			diff -= segs[k].size.Load()
			k++
		}
	}
	for k < len(segs)-1 && segs[k+1].base <= lso {
		k++
	}
	return l.deleteFront(k)
}

// deleteFront deletes the first k segments (never the active one) and
// moves the log start offset to the first remaining segment if it was
// below it (writer only).
func (l *Log) deleteFront(k int) (RetentionResult, error) {
	segs := *l.segs.Load()
	k = min(k, len(segs)-1)
	res := RetentionResult{LogStartOffset: l.startOffset.Load()}
	if k <= 0 {
		return res, nil
	}
	rest := slices.Clone(segs[k:])
	if rest[0].base > res.LogStartOffset {
		res.LogStartOffset = rest[0].base
		l.startOffset.Store(res.LogStartOffset)
	}
	l.segs.Store(&rest)
	var errs []error
	for _, d := range segs[:k] {
		res.DeletedSegments++
		res.DeletedBytes += d.size.Load()
		// The bytes stay readable through existing references (their
		// offsets were valid when those reads began): no truncGen bump.
		if err := d.markDeleted(); err != nil {
			errs = append(errs, err)
		}
		d.release()
	}
	l.pendingSync = slices.DeleteFunc(l.pendingSync, func(p *segment) bool { return p.deleted.Load() })
	if err := l.epochs.truncateFromStart(res.LogStartOffset); err != nil {
		errs = append(errs, err)
	}
	l.ckptMu.Lock()
	if err := l.writeCheckpointLocked(false); err != nil {
		errs = append(errs, err)
	}
	l.ckptMu.Unlock()
	return res, errors.Join(errs...)
}
