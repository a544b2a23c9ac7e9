package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record access for compaction: unlike the validating walkers (records.go),
// the cleaner needs every record's key and value, and must write batches
// back. A record is kept as the bytes it was stored with, so that a record
// that survives compaction is byte-identical after it (except its timestamp
// delta when the cleaner sets a batch's delete horizon, which moves the base
// timestamp the deltas count from; the timestamp itself does not change).

// cleanRecord is one record of a batch as the cleaner sees it. The slices
// point into the batch's (decompressed) records and are valid as long as
// those are.
type cleanRecord struct {
	body        []byte // the record after its length varint
	attrs       byte
	tsDelta     int64
	offsetDelta int32
	key         []byte // nil for a null key
	value       []byte // nil for a null value (a tombstone)
	tail        []byte // key length through the headers, as encoded
}

// errRecord is the error of a record that does not parse.
func errRecord(i int, what string) error {
	return fmt.Errorf("%w: record %d: %s", ErrInvalidRecord, i, what)
}

// zigzag reads a zigzag varint of at most maxLen bytes from b.
func zigzag(b []byte, maxLen int) (int64, int, bool) {
	v, n := binary.Varint(b)
	if n <= 0 || n > maxLen {
		return 0, 0, false
	}
	return v, n, true
}

// parseRecords decodes count records from raw (an uncompressed records
// section), appending them to dst. Every record must end exactly where its
// length says and raw must hold nothing after the last one.
func parseRecords(dst []cleanRecord, raw []byte, count int32) ([]cleanRecord, error) {
	for i := range int(count) {
		length, n, ok := zigzag(raw, 5)
		if !ok || length < 0 || length > int64(len(raw)-n) {
			return dst, errRecord(i, "bad length")
		}
		body := raw[n : n+int(length)]
		raw = raw[n+int(length):]
		r := cleanRecord{body: body}
		if len(body) < 1 {
			return dst, errRecord(i, "empty")
		}
		r.attrs = body[0]
		p := 1
		ts, n, ok := zigzag(body[p:], 10)
		if !ok {
			return dst, errRecord(i, "bad timestamp delta")
		}
		r.tsDelta, p = ts, p+n
		od, n, ok := zigzag(body[p:], 5)
		if !ok || od < 0 || od > 1<<31-1 {
			return dst, errRecord(i, "bad offset delta")
		}
		r.offsetDelta, p = int32(od), p+n
		r.tail = body[p:]
		for _, field := range [2]*[]byte{&r.key, &r.value} {
			fl, n, ok := zigzag(body[p:], 5)
			if !ok || fl < -1 || fl > int64(len(body)-p-n) {
				return dst, errRecord(i, "bad key or value length")
			}
			p += n
			if fl >= 0 {
				*field = body[p : p+int(fl) : p+int(fl)]
				p += int(fl)
			}
		}
		hc, n, ok := zigzag(body[p:], 5)
		if !ok || hc < 0 {
			return dst, errRecord(i, "bad header count")
		}
		p += n
		for range hc {
			for j := range 2 {
				fl, n, ok := zigzag(body[p:], 5)
				if !ok || fl < int64(-j) || fl > int64(len(body)-p-n) {
					return dst, errRecord(i, "bad header")
				}
				p += n + int(max(fl, 0))
			}
		}
		if p != len(body) {
			return dst, errRecord(i, "fields do not fill its length")
		}
		dst = append(dst, r)
	}
	if len(raw) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last record", ErrInvalidRecord, len(raw))
	}
	return dst, nil
}

// decompressRecords returns the records section of the whole batch b
// (header h) uncompressed: the payload itself when the codec is none,
// otherwise appended to scratch[:0]. It reads at most limit bytes.
func decompressRecords(scratch, b []byte, h *Header, limit int64) ([]byte, error) {
	payload := b[HeaderSize:h.Size()]
	c := h.Compression()
	if c == CompressionNone {
		return payload, nil
	}
	d := decoderPool.Get().(*decoder)
	defer d.release()
	src, err := d.open(c, payload, limit)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(scratch[:0])
	n, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	if err != nil {
		if errors.Is(err, ErrCorruptBatch) || errors.Is(err, ErrBatchTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: decompressing %v: %w", ErrCorruptBatch, c, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: records decompress to more than %d bytes", ErrBatchTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// RequireRecordKeys checks that every record of the concatenated whole
// batches has a key, as a topic with cleanup.policy containing compact
// requires: a record without one is refused with ErrNullKey (which wraps
// ErrInvalidRecord; Kafka answers INVALID_RECORD). Control batches are not
// checked. Malformed batches fail with ErrCorruptBatch or ErrInvalidRecord;
// call it after Validator. Compressed batches are decompressed (at most
// DefaultMaxUncompressedBytes each). Safe for concurrent use; b is not
// modified.
func RequireRecordKeys(batches []byte) error {
	var scratch []byte
	var recs []cleanRecord
	for pos := 0; pos < len(batches); {
		h, err := ParseHeader(batches[pos:])
		if err != nil {
			return err
		}
		if h.Size() > len(batches)-pos {
			return fmt.Errorf("%w: batch needs %d bytes, %d left", ErrCorruptBatch, h.Size(), len(batches)-pos)
		}
		b := batches[pos : pos+h.Size()]
		pos += h.Size()
		if h.Control() {
			continue
		}
		raw, err := decompressRecords(scratch, b, &h, DefaultMaxUncompressedBytes)
		if err != nil {
			return err
		}
		if h.Compression() != CompressionNone {
			scratch = raw
		}
		recs, err = parseRecords(recs[:0], raw, h.NumRecords)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.key == nil {
				return fmt.Errorf("%w (offset delta %d of the batch)", ErrNullKey, r.offsetDelta)
			}
		}
	}
	return nil
}

// encoders compress records for rewritten batches; one per compaction
// pass (not safe for concurrent use). close releases the zstd encoder.
type encoders struct {
	zs  *zstd.Encoder
	lz  *lz4.Writer
	gz  *gzip.Writer
	buf bytes.Buffer
}

func (e *encoders) close() {
	if e.zs != nil {
		_ = e.zs.Close()
		e.zs = nil
	}
}

// xerialBlock is the block size of xerial-framed snappy output (the Java
// client's default).
const xerialBlock = 32 << 10

// compress appends raw compressed with codec c to dst. xerial selects the
// xerial snappy framing (kept when the original batch used it).
func (e *encoders) compress(dst []byte, c Compression, xerial bool, raw []byte) ([]byte, error) {
	switch c {
	case CompressionGzip:
		e.buf.Reset()
		if e.gz == nil {
			e.gz = gzip.NewWriter(&e.buf)
		} else {
			e.gz.Reset(&e.buf)
		}
		if _, err := e.gz.Write(raw); err != nil {
			return dst, fmt.Errorf("commitlog: gzip: %w", err)
		}
		if err := e.gz.Close(); err != nil {
			return dst, fmt.Errorf("commitlog: gzip: %w", err)
		}
		return append(dst, e.buf.Bytes()...), nil
	case CompressionSnappy:
		if !xerial {
			return append(dst, s2.EncodeSnappy(nil, raw)...), nil
		}
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		for len(raw) > 0 {
			n := min(len(raw), xerialBlock)
			blk := s2.EncodeSnappy(nil, raw[:n])
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(blk)))
			dst = append(dst, blk...)
			raw = raw[n:]
		}
		return dst, nil
	case CompressionLZ4:
		e.buf.Reset()
		if e.lz == nil {
			e.lz = lz4.NewWriter(&e.buf)
		} else {
			e.lz.Reset(&e.buf)
		}
		if _, err := e.lz.Write(raw); err != nil {
			return dst, fmt.Errorf("commitlog: lz4: %w", err)
		}
		if err := e.lz.Close(); err != nil {
			return dst, fmt.Errorf("commitlog: lz4: %w", err)
		}
		return append(dst, e.buf.Bytes()...), nil
	case CompressionZstd:
		if e.zs == nil {
			zs, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return dst, fmt.Errorf("commitlog: zstd encoder: %w", err)
			}
			e.zs = zs
		}
		return e.zs.EncodeAll(raw, dst), nil
	}
	return dst, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, int8(c))
}

// rewrite describes a batch the cleaner writes back with fewer records or a
// new delete horizon.
type rewrite struct {
	attrs  int16 // attributes of the new batch (codec included)
	baseTs int64 // base timestamp of the new batch
	xerial bool  // snappy: frame like the original
}

// appendRewritten appends to dst the batch with header h keeping only recs
// (records of that batch, in order) with the attributes and base timestamp
// of rw. The base offset, leader epoch, last offset delta, max timestamp and
// producer fields are those of h, so offsets and producer sequences do not
// change; each kept record keeps its offset delta and (re-encoded against
// the new base timestamp when that changed) its timestamp. With no record
// the batch is an empty header (codec none), like Kafka's cleaner writes to
// keep a producer's last sequence. The CRC is computed.
func appendRewritten(dst []byte, h *Header, recs []cleanRecord, rw rewrite, enc *encoders, raw []byte) ([]byte, []byte, error) {
	start := len(dst)
	attrs := rw.attrs
	if len(recs) == 0 {
		attrs &^= attrCompressionMask
	}
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint64(hdr[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(hdr[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	hdr[offMagic] = 2
	binary.BigEndian.PutUint16(hdr[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint32(hdr[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(hdr[offBaseTimestamp:], uint64(rw.baseTs))
	binary.BigEndian.PutUint64(hdr[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(hdr[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(hdr[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(hdr[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(hdr[offRecordCount:], uint32(len(recs)))
	dst = append(dst, hdr[:]...)

	codec := Compression(attrs & attrCompressionMask)
	reencode := rw.baseTs != h.BaseTimestamp
	out := dst
	if codec != CompressionNone {
		out = raw[:0]
	}
	for _, r := range recs {
		if !reencode {
			out = binary.AppendVarint(out, int64(len(r.body)))
			out = append(out, r.body...)
			continue
		}
		tsDelta := h.BaseTimestamp + r.tsDelta - rw.baseTs
		n := 1 + varintLen(tsDelta) + varintLen(int64(r.offsetDelta)) + len(r.tail)
		out = binary.AppendVarint(out, int64(n))
		out = append(out, r.attrs)
		out = binary.AppendVarint(out, tsDelta)
		out = binary.AppendVarint(out, int64(r.offsetDelta))
		out = append(out, r.tail...)
	}
	if codec != CompressionNone {
		raw = out
		var err error
		if dst, err = enc.compress(dst, codec, rw.xerial, out); err != nil {
			return dst[:start], raw, err
		}
	} else {
		dst = out
	}
	b := dst[start:]
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return dst, raw, nil
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}

// checkStoredHeader is CheckHeader for batches already in a log, which may
// have been compacted: a record count below last offset delta + 1 (records
// removed, offsets kept), down to zero (an empty batch kept for its producer
// state), is valid. Violations are ErrInvalidRecord.
func checkStoredHeader(h *Header) error {
	if c := h.Compression(); c > CompressionZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, int8(c))
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 || int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: record count %d inconsistent with last offset delta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	return nil
}
