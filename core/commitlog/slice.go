package commitlog

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
)

// FileSlice is a byte range of one segment file holding whole batches, for
// sending stored batches without copying them through user space
// (sendfile). It holds a reference on the segment: the file stays open,
// even if retention deletes the segment, until Close. It is not safe for
// concurrent use; the Log is.
type FileSlice struct {
	seg *segment
	gen uint64
	pos int64
	n   int64
	// NextOffset is the offset after the last batch in the slice; with an
	// empty slice, the offset asked for.
	NextOffset int64
}

// Len is the number of bytes in the slice.
func (s *FileSlice) Len() int64 { return s.n }

// Close releases the segment reference. It is idempotent.
func (s *FileSlice) Close() error {
	if s.seg != nil {
		s.seg.release()
		s.seg = nil
	}
	return nil
}

// errTruncatedSlice reports that the slice's bytes were truncated away
// before they were read.
var errTruncatedSlice = errors.New("commitlog: file slice truncated before it was sent")

// AppendTo appends the slice's bytes to dst (one pread).
func (s *FileSlice) AppendTo(dst []byte) ([]byte, error) {
	if s.n == 0 {
		return dst, nil
	}
	if s.seg == nil {
		return dst, ErrClosed
	}
	start := len(dst)
	dst = slices.Grow(dst, int(s.n))[:start+int(s.n)]
	if _, err := s.seg.log.ReadAt(dst[start:], s.pos); err != nil {
		return dst[:start], fmt.Errorf("commitlog: reading slice: %w", err)
	}
	if s.seg.truncGen.Load() != s.gen {
		return dst[:start], errTruncatedSlice
	}
	return dst, nil
}

// WriteTo writes the slice's bytes to w. When w is a connection with a file
// descriptor (a *net.TCPConn, a *net.UnixConn) on Linux it uses sendfile
// with an explicit file offset, so the bytes go from the page cache to the
// socket without a user-space copy; otherwise it reads through a buffer.
// Data truncated after ReadSlice (only ever above the high watermark) is
// reported as an error, not sent as something else, as long as it is
// detected before the bytes go out.
func (s *FileSlice) WriteTo(w io.Writer) (int64, error) {
	if s.n == 0 {
		return 0, nil
	}
	if s.seg == nil {
		return 0, ErrClosed
	}
	if s.seg.truncGen.Load() != s.gen {
		return 0, errTruncatedSlice
	}
	if n, handled, err := sendFile(w, s.seg.log, s.pos, s.n); handled {
		return n, err
	}
	return io.Copy(w, io.NewSectionReader(s.seg.log, s.pos, s.n))
}

// ReadSlice is Read without the copy: it returns the file range holding
// the batches Read would return (same rules for offset, maxBytes and
// maxOffset). It reads only batch headers. The caller must Close the slice.
func (l *Log) ReadSlice(offset int64, maxBytes int, maxOffset int64) (FileSlice, error) {
	empty := FileSlice{NextOffset: offset}
	for range maxReadAttempts {
		if l.closed.Load() {
			return empty, ErrClosed
		}
		lso, leo := l.startOffset.Load(), l.endOffset.Load()
		if offset < lso || offset > leo {
			return empty, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, lso, leo)
		}
		if offset == leo || offset >= maxOffset {
			return empty, nil
		}
		_, seg := segmentFor(*l.segs.Load(), offset)
		if seg == nil || !seg.acquire() {
			continue
		}
		fs, err := l.sliceSegment(seg, offset, maxBytes, maxOffset)
		if err != nil || fs.n == 0 {
			seg.release()
		}
		if errors.Is(err, errStale) {
			runtime.Gosched()
			continue
		}
		return fs, err
	}
	return empty, fmt.Errorf("commitlog: read at offset %d kept racing with truncation", offset)
}

// sliceSegment is ReadSlice within one referenced segment; on success with
// data the slice keeps the reference.
func (l *Log) sliceSegment(s *segment, offset int64, maxBytes int, maxOffset int64) (FileSlice, error) {
	empty := FileSlice{NextOffset: offset}
	gen := s.truncGen.Load()
	end := s.size.Load()
	pos, h, found, err := s.locate(offset, end, l.cache.get(s, gen, offset))
	if err != nil {
		return empty, err
	}
	if !found {
		return empty, errStale
	}
	start, next := pos, offset
	var buf [HeaderSize]byte
	for pos+HeaderSize <= end {
		if pos > start {
			if h, err = s.headerAt(pos, &buf); err != nil {
				return empty, staleOnEOF(err)
			}
		}
		size := int64(h.Size())
		if pos+size > end || h.LastOffset() >= maxOffset || (pos > start && pos+size-start > int64(maxBytes)) {
			break
		}
		next = h.NextOffset()
		pos += size
	}
	if s.truncGen.Load() != gen {
		return empty, errStale
	}
	if pos > start {
		l.cache.put(s, gen, next, pos)
	}
	return FileSlice{seg: s, gen: gen, pos: start, n: pos - start, NextOffset: next}, nil
}
