package commitlog

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File name suffixes of a segment, named by its base offset as %020d.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
)

func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// parseSegmentName returns the base offset and suffix of a segment file
// name, or ok=false for other files.
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	dot := strings.IndexByte(name, '.')
	if dot != 20 {
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:dot], 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, name[dot:], true
}

// segment is one .log file with its two indexes.
//
// Fields under "writer" are touched only by the goroutine holding the log's
// writer lock (or by Open before the log is shared). The atomics are
// published by the writer after the bytes they describe are written, and
// read by readers without locks: a reader never looks past size, so it never
// sees a half-written batch.
type segment struct {
	base    int64
	dir     string
	log     *os.File
	offIdx  *index
	timeIdx *index

	// refs is 1 for the log's own reference plus one per reader; the
	// files are closed (and, once deleted, removed) when it drops to 0.
	refs    atomic.Int32
	deleted atomic.Bool

	size        atomic.Int64  // committed bytes
	next        atomic.Int64  // offset after the last batch (base when empty)
	maxTs       atomic.Int64  // largest batch max timestamp, -1 when none
	maxTsOffset atomic.Int64  // base offset of the first batch with maxTs
	truncGen    atomic.Uint64 // bumped by every truncation of the file
	lastWrite   atomic.Int64  // unix ms of the last append (or file mtime)

	// writer
	wMaxTs          int64 // maxTs/maxTsOffset as the writer knows them;
	wMaxOff         int64 // published after the batches are committed
	bytesSinceIndex int
	lastIndexedTs   int64 // timestamp of the last time index entry, -1 if none
	createdMs       int64 // when the segment was created or opened (unix ms)
	firstTs         int64 // max timestamp of the first batch, -1 if none
	hasFirst        bool  // firstTs is known (the segment is not empty)

	// Group commit (FlushAlways): syncMu serializes fdatasync calls;
	// syncedTo is the committed size the last one covered.
	syncMu   sync.Mutex
	syncedTo int64
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix))
}

// openSegment opens (creating if create) the three files of a segment. It
// reads nothing; recovery or the caller fills in the state.
func openSegment(dir string, base int64, create bool) (*segment, error) {
	s := &segment{base: base, dir: dir, lastIndexedTs: -1, firstTs: -1, createdMs: time.Now().UnixMilli()}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(s.path(logSuffix), flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("commitlog: opening segment: %w", err)
	}
	s.log = f
	if create {
		// A fresh segment must not inherit stale index files.
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if err := os.Remove(s.path(suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
				f.Close()
				return nil, fmt.Errorf("commitlog: removing stale index: %w", err)
			}
		}
	}
	if s.offIdx, err = openIndex(s.path(indexSuffix), offsetEntrySize, create); err != nil {
		f.Close()
		return nil, fmt.Errorf("commitlog: opening index: %w", err)
	}
	if s.timeIdx, err = openIndex(s.path(timeIndexSuffix), timeEntrySize, create); err != nil {
		f.Close()
		s.offIdx.close()
		return nil, fmt.Errorf("commitlog: opening time index: %w", err)
	}
	s.refs.Store(1)
	s.next.Store(base)
	s.setMax(-1, -1)
	s.lastWrite.Store(time.Now().UnixMilli())
	return s, nil
}

// acquire takes a reader reference; false if the segment is already gone.
func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the files and, for a
// deleted segment, removes them.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.log.Close()
	s.offIdx.close()
	s.timeIdx.close()
	if s.deleted.Load() {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			_ = os.Remove(s.path(suf + deletedSuffix))
		}
	}
}

// markDeleted renames the files to *.deleted so that a new segment may
// reuse the name at once; the files are removed by the last release
// (writer only; the caller then releases the log's reference).
func (s *segment) markDeleted() error {
	var first error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		err := os.Rename(s.path(suf), s.path(suf+deletedSuffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("commitlog: deleting segment %d: %w", s.base, err)
		}
	}
	s.deleted.Store(true)
	return first
}

// sync fsyncs the log and both index files.
func (s *segment) sync() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("commitlog: fsync segment %d: %w", s.base, err)
	}
	if err := s.offIdx.sync(); err != nil {
		return fmt.Errorf("commitlog: fsync index %d: %w", s.base, err)
	}
	if err := s.timeIdx.sync(); err != nil {
		return fmt.Errorf("commitlog: fsync time index %d: %w", s.base, err)
	}
	return nil
}

// syncTo makes the first end bytes durable with fdatasync, unless a sync
// that started after they were written already did (group commit: appends
// waiting here share one fdatasync).
func (s *segment) syncTo(end int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncedTo >= end {
		return nil
	}
	target := s.size.Load()
	if err := datasync(s.log); err != nil {
		return fmt.Errorf("commitlog: fsync segment %d: %w", s.base, err)
	}
	s.syncedTo = max(target, end)
	return nil
}

// noteBatch updates the writer's view after a batch of size bytes at pos
// with the given header fields was written: max timestamp and index
// entries. Publishing size/next is left to the caller.
func (s *segment) noteBatch(baseOffset int64, maxTs int64, pos int64, size int, interval int) error {
	if maxTs > s.wMaxTs {
		s.wMaxTs, s.wMaxOff = maxTs, baseOffset
	}
	if !s.hasFirst {
		s.hasFirst = true
		s.firstTs = maxTs
	}
	s.bytesSinceIndex += size
	if s.bytesSinceIndex < interval {
		return nil
	}
	s.bytesSinceIndex = 0
	var e [timeEntrySize]byte
	if err := s.offIdx.add(appendOffsetEntry(e[:0], uint32(baseOffset-s.base), uint32(pos))); err != nil {
		return err
	}
	return s.maybeAddTimeEntry()
}

// maybeAddTimeEntry appends a time index entry if the max timestamp grew
// since the last one (writer only).
func (s *segment) maybeAddTimeEntry() error {
	ts := s.wMaxTs
	if ts <= s.lastIndexedTs || ts < 0 {
		return nil
	}
	var e [timeEntrySize]byte
	if err := s.timeIdx.add(appendTimeEntry(e[:0], ts, uint32(s.wMaxOff-s.base))); err != nil {
		return err
	}
	s.lastIndexedTs = ts
	return nil
}

// setMax sets the max timestamp and its batch, for the writer and readers.
func (s *segment) setMax(ts, off int64) {
	s.wMaxTs, s.wMaxOff = ts, off
	s.publishMax()
}

// publishMax shows the writer's max timestamp to readers; write calls it
// once the batches it describes are committed.
func (s *segment) publishMax() {
	s.maxTsOffset.Store(s.wMaxOff)
	s.maxTs.Store(s.wMaxTs)
}

// timeWaitedForRoll is Kafka's measure for segment.ms: the incoming
// batches' max timestamp minus the first batch's, or the wall time since
// creation when the first batch has no timestamp.
func (s *segment) timeWaitedForRoll(nowMs, incomingTs int64) int64 {
	if s.hasFirst && s.firstTs >= 0 {
		return incomingTs - s.firstTs
	}
	return nowMs - s.createdMs
}

// seal flushes and seals both indexes, adding the final time entry.
func (s *segment) seal() error {
	if err := s.maybeAddTimeEntry(); err != nil {
		return err
	}
	if err := s.offIdx.seal(); err != nil {
		return err
	}
	return s.timeIdx.seal()
}

// floorPosition returns the position of the last indexed batch whose base
// offset is <= offset (0 when none is).
func (s *segment) floorPosition(offset int64) (int64, int64, error) {
	rel := offset - s.base
	if rel < 0 {
		return 0, s.base, nil
	}
	if rel > math.MaxUint32 {
		rel = math.MaxUint32
	}
	n, err := s.offIdx.search(func(e []byte) bool {
		r, _ := decodeOffsetEntry(e)
		return int64(r) <= rel
	})
	if err != nil || n == 0 {
		return 0, s.base, err
	}
	e, ok, err := s.offIdx.entryAt(n - 1)
	if err != nil || !ok {
		return 0, s.base, err
	}
	r, pos := decodeOffsetEntry(e[:])
	return int64(pos), s.base + int64(r), nil
}

// headerAt reads and parses the batch header at pos. It fails with io.EOF
// (or io.ErrUnexpectedEOF) when fewer than HeaderSize bytes are there.
func (s *segment) headerAt(pos int64, buf *[HeaderSize]byte) (Header, error) {
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return Header{}, err
	}
	return ParseHeader(buf[:])
}

// errStale signals a reader that the segment changed under it (truncated
// or deleted); it retries with a fresh view.
var errStale = errors.New("commitlog: segment changed during read")

// locate returns the position and header of the batch containing offset,
// scanning headers forward from the closest index entry (or hint), never
// past end. found=false means no batch in [pos, end) contains offset.
func (s *segment) locate(offset, end int64, hintPos int64) (pos int64, h Header, found bool, err error) {
	var buf [HeaderSize]byte
	pos = hintPos
	if pos < 0 {
		var idxOffset int64
		pos, idxOffset, err = s.floorPosition(offset)
		if err != nil {
			return 0, h, false, err
		}
		if pos > 0 {
			// Trust the index entry only if it points at the batch it
			// names; otherwise scan from the start.
			if pos >= end {
				pos = 0
			} else if hh, err := s.headerAt(pos, &buf); err != nil || hh.BaseOffset != idxOffset {
				pos = 0
			}
		}
	}
	for pos+HeaderSize <= end {
		h, err = s.headerAt(pos, &buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, h, false, errStale
			}
			return 0, h, false, fmt.Errorf("commitlog: segment %d position %d: %w", s.base, pos, err)
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, h, false, nil
}
