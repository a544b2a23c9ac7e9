package commitlog

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DefaultMaxUncompressedBytes is the decompression bound a zero
// Validator.MaxUncompressedBytes stands for: a compressed batch whose records
// decompress to more is rejected with ErrBatchTooLarge. It protects the
// broker from decompression bombs; legitimate batches are far smaller.
const DefaultMaxUncompressedBytes = 256 << 20

// Validator checks record batches before they are appended. Its fields are
// read-only configuration; a Validator is safe for concurrent use and the
// zero value is ready (no size limit, default decompression bound, broker
// origin rules).
type Validator struct {
	// MaxBatchBytes is max.message.bytes: the largest batch (12 +
	// batch length) accepted. Zero means no limit.
	MaxBatchBytes int
	// MaxUncompressedBytes bounds the decompressed size of a compressed
	// batch's records. Zero means DefaultMaxUncompressedBytes.
	MaxUncompressedBytes int
	// ClientOrigin applies the rules Kafka has for batches sent by
	// producers: the base offset must be 0 and control batches are not
	// allowed (both ErrInvalidRecord).
	ClientOrigin bool
}

// BatchInfo is what validation learns about one batch.
type BatchInfo struct {
	Header
	// MinRecordTimestamp and MaxRecordTimestamp are the smallest and
	// largest record timestamps (base timestamp + delta) of the batch.
	// With LogAppendTime they are the header's max timestamp.
	MinRecordTimestamp int64
	MaxRecordTimestamp int64
}

// Summary describes a run of validated batches.
type Summary struct {
	// Batches is the number of batches; Records the sum of their counts.
	Batches int
	Records int64
	// First is the first batch (Produce v3 and later carry exactly one).
	First BatchInfo
	// MinTimestamp and MaxTimestamp span every record of every batch.
	MinTimestamp int64
	MaxTimestamp int64
}

// ValidateBatch validates b, which must be exactly one whole batch:
//
//   - the header parses (ParseHeader) and b holds exactly 12 + batch
//     length bytes (ErrCorruptBatch);
//   - the size is within MaxBatchBytes (ErrBatchTooLarge);
//   - the CRC-32C over attributes..end matches (ErrCorruptBatch);
//   - the header rules of CheckHeader and, with ClientOrigin, the producer
//     rules hold (ErrInvalidRecord);
//   - the records, decompressed for gzip, snappy, lz4 and zstd, are well
//     formed varint records, exactly as many as the record count, with no
//     trailing bytes; a compressed batch's offset deltas run 0, 1, 2...
//     (ErrInvalidRecord; a payload that does not decompress is
//     ErrCorruptBatch, one that decompresses past MaxUncompressedBytes is
//     ErrBatchTooLarge).
//
// It does not modify b and allocates nothing for uncompressed batches.
func (v *Validator) ValidateBatch(b []byte) (BatchInfo, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return BatchInfo{Header: h}, err
	}
	size := h.Size()
	if v.MaxBatchBytes > 0 && size > v.MaxBatchBytes {
		return BatchInfo{Header: h}, fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrBatchTooLarge, size, v.MaxBatchBytes)
	}
	if size != len(b) {
		return BatchInfo{Header: h}, fmt.Errorf("%w: batch length says %d bytes, have %d", ErrCorruptBatch, size, len(b))
	}
	if !CRCValid(b) {
		return BatchInfo{Header: h}, fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorruptBatch, h.CRC, ComputeCRC(b))
	}
	if err := h.CheckHeader(); err != nil {
		return BatchInfo{Header: h}, err
	}
	if v.ClientOrigin {
		if h.BaseOffset != 0 {
			return BatchInfo{Header: h}, fmt.Errorf("%w: a produced batch must have base offset 0, got %d", ErrInvalidRecord, h.BaseOffset)
		}
		if h.Control() {
			return BatchInfo{Header: h}, fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
		}
	}
	info := BatchInfo{Header: h, MinRecordTimestamp: math.MaxInt64, MaxRecordTimestamp: math.MinInt64}
	limit := int64(v.MaxUncompressedBytes)
	if limit <= 0 {
		limit = DefaultMaxUncompressedBytes
	}
	err = walkRecords(b, &h, limit, v.ClientOrigin, func(i int32, rec recordInfo) error {
		ts := h.BaseTimestamp + rec.timestampDelta
		info.MinRecordTimestamp = min(info.MinRecordTimestamp, ts)
		info.MaxRecordTimestamp = max(info.MaxRecordTimestamp, ts)
		return nil
	})
	if err != nil {
		return info, err
	}
	if h.LogAppendTime() {
		info.MinRecordTimestamp, info.MaxRecordTimestamp = h.MaxTimestamp, h.MaxTimestamp
	}
	return info, nil
}

// Validate validates one or more concatenated batches (the records field of
// a produce request) with ValidateBatch each; bytes after the last whole
// batch are ErrCorruptBatch. Empty input is ErrCorruptBatch too.
func (v *Validator) Validate(batches []byte) (Summary, error) {
	var s Summary
	if len(batches) == 0 {
		return s, fmt.Errorf("%w: no record batch", ErrCorruptBatch)
	}
	for pos := 0; pos < len(batches); {
		rest := batches[pos:]
		if len(rest) < HeaderSize {
			return s, fmt.Errorf("%w: %d trailing bytes after batch %d", ErrCorruptBatch, len(rest), s.Batches)
		}
		size := LogOverhead + int(batchLength(rest))
		if size < HeaderSize || size > len(rest) {
			// Let ValidateBatch describe it, but only after the
			// size limit had its say.
			size = min(max(size, HeaderSize), len(rest))
			if l := LogOverhead + int64(batchLength(rest)); v.MaxBatchBytes > 0 && l > int64(v.MaxBatchBytes) {
				return s, fmt.Errorf("%w: batch %d of %d bytes, max.message.bytes is %d", ErrBatchTooLarge, s.Batches, l, v.MaxBatchBytes)
			}
		}
		info, err := v.ValidateBatch(rest[:size])
		if err != nil {
			return s, fmt.Errorf("batch %d at byte %d: %w", s.Batches, pos, err)
		}
		if s.Batches == 0 {
			s.First = info
			s.MinTimestamp, s.MaxTimestamp = info.MinRecordTimestamp, info.MaxRecordTimestamp
		} else {
			s.MinTimestamp = min(s.MinTimestamp, info.MinRecordTimestamp)
			s.MaxTimestamp = max(s.MaxTimestamp, info.MaxRecordTimestamp)
		}
		s.Batches++
		s.Records += int64(info.NumRecords)
		pos += size
	}
	return s, nil
}

// walkRecords reads every record of the whole batch b (header h) and calls
// fn with its index and fields; an error from fn stops the walk and is
// returned. It checks the count, trailing bytes and a compressed batch's
// offset deltas: with sequential (batches from clients) they run 0, 1,
// 2...; otherwise (stored or replicated batches, which compaction may have
// thinned) they strictly increase and stay within the last offset delta.
// Uncompressed batches' offset deltas are not checked (Kafka does not
// either).
func walkRecords(b []byte, h *Header, limit int64, sequential bool, fn func(int32, recordInfo) error) error {
	payload := b[HeaderSize:h.Size()]
	codec := h.Compression()
	r := recordReader{buf: payload}
	if codec != CompressionNone {
		d := decoderPool.Get().(*decoder)
		defer d.release()
		src, err := d.open(codec, payload, limit)
		if err != nil {
			return err
		}
		r = recordReader{src: src, scratch: d.scratch[:], limit: limit}
	}
	prev := int32(-1)
	for i := range h.NumRecords {
		rec, err := r.next()
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i, h.NumRecords, err)
		}
		switch {
		case sequential && codec != CompressionNone && rec.offsetDelta != i:
			return fmt.Errorf("%w: record %d of a compressed batch has offset delta %d", ErrInvalidRecord, i, rec.offsetDelta)
		case !sequential && codec != CompressionNone && (rec.offsetDelta <= prev || rec.offsetDelta > h.LastOffsetDelta):
			return fmt.Errorf("%w: record %d has offset delta %d after %d (last offset delta %d)", ErrInvalidRecord, i, rec.offsetDelta, prev, h.LastOffsetDelta)
		}
		prev = rec.offsetDelta
		if err := fn(i, rec); err != nil {
			return err
		}
	}
	if !r.atEnd() {
		if r.err != nil {
			return r.err
		}
		return fmt.Errorf("%w: bytes left after the %d records the batch declares", ErrInvalidRecord, h.NumRecords)
	}
	return nil
}

// SetMaxTimestamp writes the max timestamp of the whole batch b and
// recomputes the CRC, if it differs; it reports whether b changed. Kafka
// corrects the max timestamp of CreateTime batches to the largest record
// timestamp (BatchInfo.MaxRecordTimestamp).
func SetMaxTimestamp(b []byte, ts int64) bool {
	if int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) == ts {
		return false
	}
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return true
}
