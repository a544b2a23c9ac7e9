package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Chunk is the content of one bytes field of a response that is not in
// memory, typically a range of a log segment sent with sendfile. A Chunk
// is used by one goroutine at a time.
type Chunk interface {
	// Len is the number of bytes; it does not change.
	Len() int64
	// WriteTo writes the bytes to w (a connection: sendfile where it
	// can).
	WriteTo(w io.Writer) (int64, error)
	// AppendTo appends the bytes to dst.
	AppendTo(dst []byte) ([]byte, error)
	// Close releases what the chunk holds. It is idempotent.
	Close() error
}

// A SplicedResponse is a response some of whose bytes fields (record sets)
// are Chunks: the kmsg body holds, in each such field, the placeholder
// Placeholder(i) of the i-th chunk, in encoding order. Responses of this
// kind are written with AppendSplicedResponse (a connection's writer, which
// sends the chunks between the encoded pieces) or AppendResponse (which
// copies them in). Either way the chunks are the response's to close: the
// writer calls Release once, after the bytes went out or were dropped.
type SplicedResponse interface {
	kmsg.Response
	// Chunks are the chunks in the order their placeholders are encoded.
	Chunks() []Chunk
	// Release closes every chunk. It is idempotent.
	Release()
}

// placeholderLen is the size of a placeholder: 12 random bytes fixed for
// the process and a 4-byte chunk index. Response bytes never contain
// record data where placeholders are used, so a collision of 96 random
// bits with metadata bytes is not a practical concern.
const placeholderLen = 16

var placeholderPrefix = func() [12]byte {
	var p [12]byte
	_, _ = rand.Read(p[:])
	return p
}()

// Placeholder returns the bytes a SplicedResponse puts in the field of its
// i-th chunk.
func Placeholder(i int) []byte {
	p := placeholder(i)
	return p[:]
}

func placeholder(i int) (p [placeholderLen]byte) {
	copy(p[:], placeholderPrefix[:])
	binary.BigEndian.PutUint32(p[12:], uint32(i))
	return p
}

// ErrSplice reports a SplicedResponse whose encoding does not hold its
// placeholders as bytes fields in order: a bug of the response's producer.
var ErrSplice = errors.New("wire: spliced response without its placeholders")

// A Splice says that Chunk's bytes go at offset At of the frame bytes
// AppendSplicedResponse returned (before the byte at At).
type Splice struct {
	At    int
	Chunk Chunk
}

// AppendSplicedResponse appends resp as a response frame like
// AppendResponse, except that the chunks' bytes are left out: the frame is
// the returned bytes from the old len(dst) with each Splice's chunk
// inserted at its offset, in order, and its size field counts the chunks.
// splices is appended to and returned. resp is not released.
func AppendSplicedResponse(dst []byte, correlationID int32, resp SplicedResponse, splices []Splice) ([]byte, []Splice, error) {
	start := len(dst)
	dst = appendResponse(dst, correlationID, resp)
	chunks := resp.Chunks()
	flexible := resp.IsFlexible()
	var extra int64
	pos := start + 8
	for i, ch := range chunks {
		ph := placeholder(i)
		j := bytes.Index(dst[pos:], ph[:])
		if j < 0 {
			return dst[:start], splices, fmt.Errorf("%w: chunk %d not found", ErrSplice, i)
		}
		at := pos + j
		// The length prefix before the placeholder, and the one for the
		// chunk: compact (uvarint length+1) when flexible, int32 if not.
		var old int
		var prefix []byte
		var pbuf [binary.MaxVarintLen64]byte
		if flexible {
			old = 1
			if at-old < pos || dst[at-1] != placeholderLen+1 {
				return dst[:start], splices, fmt.Errorf("%w: chunk %d has no compact length", ErrSplice, i)
			}
			prefix = pbuf[:binary.PutUvarint(pbuf[:], uint64(ch.Len())+1)]
		} else {
			old = 4
			if at-old < pos || binary.BigEndian.Uint32(dst[at-4:]) != placeholderLen {
				return dst[:start], splices, fmt.Errorf("%w: chunk %d has no int32 length", ErrSplice, i)
			}
			prefix = binary.BigEndian.AppendUint32(pbuf[:0], uint32(ch.Len()))
		}
		// Replace prefix+placeholder by the new prefix.
		from, to := at-old, at+placeholderLen
		delta := len(prefix) - (to - from)
		tail := len(dst) - to
		if delta > 0 {
			dst = append(dst, make([]byte, delta)...)
		}
		copy(dst[to+delta:], dst[to:to+tail])
		copy(dst[from:], prefix)
		dst = dst[:to+delta+tail]
		pos = from + len(prefix)
		splices = append(splices, Splice{At: pos, Chunk: ch})
		extra += ch.Len()
	}
	size := int64(len(dst)-start-4) + extra
	if size > 1<<31-1 {
		return dst[:start], splices, fmt.Errorf("%w: %d-byte response", ErrSplice, size)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, splices, nil
}

// appendSpliced appends resp with its chunks copied in.
func appendSpliced(dst []byte, correlationID int32, resp SplicedResponse) ([]byte, error) {
	start := len(dst)
	dst, splices, err := AppendSplicedResponse(dst, correlationID, resp, nil)
	if err != nil || len(splices) == 0 {
		return dst, err
	}
	// Rebuild the frame with the chunks in place.
	frame := append([]byte(nil), dst[start:]...)
	dst = dst[:start]
	last := 0
	for _, s := range splices {
		dst = append(dst, frame[last:s.At-start]...)
		if dst, err = s.Chunk.AppendTo(dst); err != nil {
			return dst[:start], err
		}
		last = s.At - start
	}
	return append(dst, frame[last:]...), nil
}
