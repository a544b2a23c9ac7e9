package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRequestSize is Kafka's socket.request.max.bytes default, 100 MiB.
const DefaultMaxRequestSize = 100 << 20

// FrameReader reads size-prefixed request frames from a byte stream.
//
// A FrameReader is not safe for concurrent use; a connection has exactly one,
// used by its reader goroutine. Give it a buffered reader: it issues one Read
// for the 4-byte size and one for the frame.
type FrameReader struct {
	r     io.Reader
	max   int32
	size  [4]byte
	alloc func(size int) []byte
}

// NewFrameReader returns a FrameReader over r that refuses frames larger
// than maxSize bytes (not counting the 4-byte size itself). maxSize must be
// positive.
func NewFrameReader(r io.Reader, maxSize int32) *FrameReader {
	return &FrameReader{r: r, max: maxSize}
}

// SetAlloc makes Next take each frame's buffer from alloc, which must
// return a slice of exactly size bytes (any content: Next overwrites it)
// that nothing else uses, for callers that recycle frames whose requests
// are done. nil restores plain allocation.
func (f *FrameReader) SetAlloc(alloc func(size int) []byte) { f.alloc = alloc }

// Next reads the next frame and returns its bytes (header and body, without
// the size prefix) in a slice that the caller owns (newly allocated, or
// from the SetAlloc function); decoded requests alias it.
//
// Errors: io.EOF when the stream ends cleanly between frames;
// io.ErrUnexpectedEOF (wrapped) when it ends inside one; a *FrameSizeError
// (errors.Is ErrRequestTooLarge) when the declared size is above the maximum
// or negative, in which case nothing past the size was consumed; otherwise
// the underlying reader's error. After any error the stream is unusable.
func (f *FrameReader) Next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.size[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("wire: reading request size: %w", err)
		}
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(f.size[:]))
	if size < 0 || size > f.max {
		return nil, &FrameSizeError{Size: int64(size), Max: f.max}
	}
	var frame []byte
	if f.alloc != nil {
		frame = f.alloc(int(size))
	} else {
		frame = make([]byte, size)
	}
	if _, err := io.ReadFull(f.r, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("wire: reading request of %d bytes: %w", size, err)
	}
	return frame, nil
}
