package commitlog

import (
	"errors"
	"fmt"
	"io"
	"runtime"
)

// TimestampOffset answers a timestamp lookup (ListOffsets).
type TimestampOffset struct {
	Offset    int64
	Timestamp int64
	// LeaderEpoch is the partition leader epoch of the batch holding the
	// record.
	LeaderEpoch int32
}

// OffsetForTimestamp returns the first record at or after the log start
// offset whose timestamp is >= ts, with its timestamp, like Kafka's
// ListOffsets by timestamp: with LogAppendTime a record's timestamp is its
// batch's max timestamp, with CreateTime base timestamp + delta (compressed
// batches are decompressed to find the record). ok=false when no record
// qualifies. Safe for concurrent use; it reads the time index, then
// headers, then at most a few whole batches.
func (l *Log) OffsetForTimestamp(ts int64) (TimestampOffset, bool, error) {
	for range maxReadAttempts {
		r, ok, err := l.offsetForTimestamp(ts)
		if !errors.Is(err, errStale) {
			return r, ok, err
		}
		runtime.Gosched()
	}
	return TimestampOffset{}, false, errRacing
}

// errRacing reports a lookup that kept racing with truncation.
var errRacing = errors.New("commitlog: lookup kept racing with truncation")

func (l *Log) offsetForTimestamp(ts int64) (TimestampOffset, bool, error) {
	if l.closed.Load() {
		return TimestampOffset{}, false, ErrClosed
	}
	lso := l.startOffset.Load()
	for _, s := range *l.segs.Load() {
		if s.maxTs.Load() < ts || s.next.Load() <= lso {
			continue
		}
		if !s.acquire() {
			continue
		}
		gen := s.truncGen.Load()
		r, ok, err := s.searchTimestamp(ts, lso)
		if err != nil && s.truncGen.Load() != gen {
			err = errStale
		}
		s.release()
		if err != nil || ok {
			return r, ok, err
		}
	}
	return TimestampOffset{}, false, nil
}

// searchTimestamp finds the first record with timestamp >= ts and offset
// >= minOffset in the segment.
func (s *segment) searchTimestamp(ts, minOffset int64) (TimestampOffset, bool, error) {
	end := s.size.Load()
	// Every batch before the one named by the last time index entry with
	// a timestamp <= ts has a smaller max timestamp: start there.
	from := max(s.base, minOffset)
	n, err := s.timeIdx.search(func(e []byte) bool {
		t, _ := decodeTimeEntry(e)
		return t <= ts
	})
	if err != nil {
		return TimestampOffset{}, false, err
	}
	if e, ok, err := s.timeIdx.entryAt(n - 1); err != nil {
		return TimestampOffset{}, false, err
	} else if ok {
		_, rel := decodeTimeEntry(e[:])
		from = max(from, s.base+int64(rel))
	}
	pos, _, found, err := s.locate(from, end, -1)
	if err != nil || !found {
		return TimestampOffset{}, false, err
	}
	var buf [HeaderSize]byte
	for pos+HeaderSize <= end {
		h, err := s.headerAt(pos, &buf)
		if err != nil {
			return TimestampOffset{}, false, staleOnEOF(err)
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= minOffset {
			r, ok, err := s.recordAtOrAfter(pos, &h, minOffset, func(t int64) bool { return t >= ts })
			if err != nil || ok {
				return r, ok, err
			}
		}
		pos += int64(h.Size())
	}
	return TimestampOffset{}, false, nil
}

// recordAtOrAfter reads the batch at pos and returns its first record with
// offset >= minOffset whose timestamp satisfies match.
func (s *segment) recordAtOrAfter(pos int64, h *Header, minOffset int64, match func(int64) bool) (TimestampOffset, bool, error) {
	if h.LogAppendTime() {
		if !match(h.MaxTimestamp) {
			return TimestampOffset{}, false, nil
		}
		return TimestampOffset{Offset: max(h.BaseOffset, minOffset), Timestamp: h.MaxTimestamp, LeaderEpoch: h.PartitionLeaderEpoch}, true, nil
	}
	b := make([]byte, h.Size())
	if _, err := s.log.ReadAt(b, pos); err != nil {
		return TimestampOffset{}, false, staleOnEOF(err)
	}
	var res TimestampOffset
	errFound := errors.New("found")
	err := walkRecords(b, h, DefaultMaxUncompressedBytes, false, func(_ int32, r recordInfo) error {
		off, t := h.BaseOffset+int64(r.offsetDelta), h.BaseTimestamp+r.timestampDelta
		if off >= minOffset && match(t) {
			res = TimestampOffset{Offset: off, Timestamp: t, LeaderEpoch: h.PartitionLeaderEpoch}
			return errFound
		}
		return nil
	})
	if err == errFound {
		return res, true, nil
	}
	if err != nil {
		return TimestampOffset{}, false, fmt.Errorf("commitlog: reading batch at offset %d: %w", h.BaseOffset, err)
	}
	return TimestampOffset{}, false, nil
}

// MaxTimestamp returns the record with the largest timestamp in the log
// (the earliest such record on ties), for ListOffsets with timestamp -3
// (KIP-734). ok=false when the log holds no record with a timestamp. The
// record may be below the log start offset if DeleteRecordsBefore cut into
// its segment. Safe for concurrent use.
func (l *Log) MaxTimestamp() (TimestampOffset, bool, error) {
	for range maxReadAttempts {
		r, ok, err := l.maxTimestamp()
		if !errors.Is(err, errStale) {
			return r, ok, err
		}
		runtime.Gosched()
	}
	return TimestampOffset{}, false, errRacing
}

func (l *Log) maxTimestamp() (TimestampOffset, bool, error) {
	if l.closed.Load() {
		return TimestampOffset{}, false, ErrClosed
	}
	lso := l.startOffset.Load()
	var best *segment
	bestTs := int64(-1)
	for _, s := range *l.segs.Load() {
		if s.next.Load() <= lso {
			continue
		}
		if ts := s.maxTs.Load(); ts > bestTs {
			best, bestTs = s, ts
		}
	}
	if best == nil || !best.acquire() {
		return TimestampOffset{}, false, nil
	}
	defer best.release()
	gen := best.truncGen.Load()
	off := best.maxTsOffset.Load()
	end := best.size.Load()
	pos, h, found, err := best.locate(off, end, -1)
	if err == nil && (!found || h.BaseOffset != off) {
		err = errStale // truncated since the snapshot
	}
	if err == nil {
		var r TimestampOffset
		var ok bool
		r, ok, err = best.recordAtOrAfter(pos, &h, h.BaseOffset, func(t int64) bool { return t == h.MaxTimestamp })
		if err == nil && ok {
			return r, ok, nil
		}
	}
	if err != nil {
		if best.truncGen.Load() != gen {
			err = errStale
		}
		return TimestampOffset{}, false, err
	}
	// The batch's max timestamp matches no record: answer with the batch.
	return TimestampOffset{Offset: h.LastOffset(), Timestamp: h.MaxTimestamp, LeaderEpoch: h.PartitionLeaderEpoch}, true, nil
}

// staleOnEOF turns a short read (the file was truncated under the reader)
// into errStale.
func staleOnEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errStale
	}
	return err
}
