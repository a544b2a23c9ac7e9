package commitlog

import (
	"errors"
	"fmt"
	"io"
)

// Record layout inside a batch (after decompression). Integers marked
// varint/varlong are zigzag-encoded base-128 varints of at most 5/10 bytes.
//
//	length          varint   bytes of the record after this field
//	attributes      int8     unused
//	timestampDelta  varlong  from the batch's base timestamp
//	offsetDelta     varint   from the batch's base offset
//	keyLength       varint   -1 for a null key
//	key             bytes
//	valueLength     varint   -1 for a null value
//	value           bytes
//	headerCount     varint
//	headers         headerCount x (keyLength varint >= 0, key,
//	                                valueLength varint >= -1, value)

// recordInfo is what the walkers need from a record.
type recordInfo struct {
	offsetDelta    int32
	timestampDelta int64
}

// errShortRecords is returned (wrapped into ErrInvalidRecord by callers) when
// the records end before a field does.
var errShortRecords = errors.New("records end inside a record")

// recordReader walks the records section of a batch. It reads either from a
// byte slice (uncompressed batches: src is nil and buf is everything) or
// from a decompressing reader that fills scratch. It keeps no reference to
// the data once the walk is over and allocates nothing itself.
type recordReader struct {
	buf      []byte    // unread bytes
	src      io.Reader // nil when buf holds all the records
	scratch  []byte    // the buffer src fills
	consumed int64     // bytes consumed from the start of the records
	pulled   int64     // bytes read from src so far
	limit    int64     // maximum bytes src may produce
	err      error     // sticky error from src (not io.EOF)
	eof      bool      // src returned io.EOF
}

// fill tries to have at least n bytes (n <= len(scratch)) in buf. It returns
// with fewer only at the end of the input or on an error (r.err).
func (r *recordReader) fill(n int) {
	if len(r.buf) >= n || r.src == nil || r.eof || r.err != nil {
		return
	}
	k := copy(r.scratch, r.buf)
	for k < n && !r.eof && r.err == nil {
		m, err := r.src.Read(r.scratch[k:])
		k += m
		r.pulled += int64(m)
		if r.pulled > r.limit {
			r.err = fmt.Errorf("%w: records decompress to more than %d bytes", ErrBatchTooLarge, r.limit)
		}
		if err == io.EOF {
			r.eof = true
		} else if err != nil && r.err == nil {
			if errors.Is(err, ErrCorruptBatch) || errors.Is(err, ErrBatchTooLarge) {
				r.err = err
			} else {
				r.err = fmt.Errorf("%w: decompressing: %w", ErrCorruptBatch, err)
			}
		} else if m == 0 && err == nil {
			// A reader that returns 0, nil repeatedly would spin;
			// io.Reader allows it rarely, so simply retry.
			continue
		}
	}
	r.buf = r.scratch[:k]
}

// failure returns the error to report when a field cannot be read: the
// source's error if any, else a short-records error.
func (r *recordReader) failure(what string) error {
	if r.err != nil {
		return r.err
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalidRecord, what, errShortRecords)
}

// byte1 reads one byte.
func (r *recordReader) byte1() (byte, bool) {
	if len(r.buf) < 1 {
		r.fill(1)
		if len(r.buf) < 1 {
			return 0, false
		}
	}
	c := r.buf[0]
	r.buf = r.buf[1:]
	r.consumed++
	return c, true
}

// varint reads a zigzag varint of at most 5 bytes (Kafka's int32 varint).
func (r *recordReader) varint() (int32, bool) {
	if len(r.buf) < 5 {
		r.fill(5)
	}
	b := r.buf
	var ux uint32
	for i := 0; i < 5 && i < len(b); i++ {
		c := b[i]
		ux |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.buf = b[i+1:]
			r.consumed += int64(i + 1)
			return int32(ux>>1) ^ -int32(ux&1), true
		}
	}
	return 0, false
}

// varlong reads a zigzag varint of at most 10 bytes (Kafka's int64 varlong).
func (r *recordReader) varlong() (int64, bool) {
	if len(r.buf) < 10 {
		r.fill(10)
	}
	b := r.buf
	var ux uint64
	for i := 0; i < 10 && i < len(b); i++ {
		c := b[i]
		ux |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.buf = b[i+1:]
			r.consumed += int64(i + 1)
			return int64(ux>>1) ^ -int64(ux&1), true
		}
	}
	return 0, false
}

// skip consumes n >= 0 bytes.
func (r *recordReader) skip(n int64) bool {
	if n <= int64(len(r.buf)) {
		r.buf = r.buf[n:]
		r.consumed += n
		return true
	}
	n -= int64(len(r.buf))
	r.consumed += int64(len(r.buf))
	r.buf = r.buf[:0]
	for n > 0 {
		r.fill(1)
		if len(r.buf) == 0 {
			return false
		}
		k := min(n, int64(len(r.buf)))
		r.buf = r.buf[k:]
		r.consumed += k
		n -= k
	}
	return true
}

// atEnd reports whether every record byte has been consumed.
func (r *recordReader) atEnd() bool {
	r.fill(1)
	return len(r.buf) == 0 && r.err == nil
}

// next reads one record. Errors wrap ErrInvalidRecord (malformed record),
// ErrCorruptBatch (the decompressor failed) or ErrBatchTooLarge (the
// decompression bound was hit).
func (r *recordReader) next() (recordInfo, error) {
	length, ok := r.varint()
	if !ok {
		return recordInfo{}, r.failure("record length")
	}
	if length < 0 {
		return recordInfo{}, fmt.Errorf("%w: negative record length %d", ErrInvalidRecord, length)
	}
	if int64(length) <= int64(len(r.buf)) {
		// Fast path: the whole record is in the buffer; walk it as
		// a slice of its own so that its length bounds every field.
		sub := recordReader{buf: r.buf[:length]}
		r.buf = r.buf[length:]
		r.consumed += int64(length)
		info, err := sub.body()
		if err == nil && len(sub.buf) != 0 {
			err = fmt.Errorf("%w: record length %d, fields end %d bytes earlier", ErrInvalidRecord, length, len(sub.buf))
		}
		return info, err
	}
	start := r.consumed
	info, err := r.body()
	if err != nil {
		return info, err
	}
	if got := r.consumed - start; got != int64(length) {
		return info, fmt.Errorf("%w: record length %d, fields take %d bytes", ErrInvalidRecord, length, got)
	}
	return info, nil
}

// body reads the fields of a record after its length.
func (r *recordReader) body() (recordInfo, error) {
	var info recordInfo
	if _, ok := r.byte1(); !ok {
		return info, r.failure("record attributes")
	}
	var ok bool
	if info.timestampDelta, ok = r.varlong(); !ok {
		return info, r.failure("timestamp delta")
	}
	if info.offsetDelta, ok = r.varint(); !ok {
		return info, r.failure("offset delta")
	}
	for _, what := range [2]string{"key", "value"} {
		n, ok := r.varint()
		if !ok {
			return info, r.failure(what + " length")
		}
		if n < -1 {
			return info, fmt.Errorf("%w: %s length %d", ErrInvalidRecord, what, n)
		}
		if n > 0 && !r.skip(int64(n)) {
			return info, r.failure(what)
		}
	}
	headers, ok := r.varint()
	if !ok {
		return info, r.failure("header count")
	}
	if headers < 0 {
		return info, fmt.Errorf("%w: header count %d", ErrInvalidRecord, headers)
	}
	for range headers {
		n, ok := r.varint()
		if !ok {
			return info, r.failure("header key length")
		}
		if n < 0 {
			return info, fmt.Errorf("%w: header key length %d", ErrInvalidRecord, n)
		}
		if !r.skip(int64(n)) {
			return info, r.failure("header key")
		}
		if n, ok = r.varint(); !ok {
			return info, r.failure("header value length")
		}
		if n < -1 {
			return info, fmt.Errorf("%w: header value length %d", ErrInvalidRecord, n)
		}
		if n > 0 && !r.skip(int64(n)) {
			return info, r.failure("header value")
		}
	}
	return info, nil
}
