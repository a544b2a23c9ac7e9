package commitlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Record batch (magic v2) header layout. Every integer is big endian. The
// CRC covers bytes [crcStart, end of batch): base offset, batch length,
// partition leader epoch and magic are outside it, which is why the broker
// can rewrite the base offset and the leader epoch without recomputing it.
//
//	offset  size  field
//	     0     8  base offset
//	     8     4  batch length (bytes after this field: batch size = 12 + length)
//	    12     4  partition leader epoch
//	    16     1  magic (2)
//	    17     4  CRC-32C (Castagnoli) of bytes 21 .. end
//	    21     2  attributes (bits 0-2 codec, 3 timestamp type, 4 transactional,
//	              5 control, 6 delete horizon)
//	    23     4  last offset delta
//	    27     8  base timestamp
//	    35     8  max timestamp
//	    43     8  producer id
//	    51     2  producer epoch
//	    53     4  base sequence
//	    57     4  record count
//	    61     -  records (compressed as a whole when codec != 0)
const (
	// HeaderSize is the size of the fixed record batch header.
	HeaderSize = 61
	// LogOverhead is the size of the base offset and batch length fields,
	// which the batch length does not count.
	LogOverhead = 12
	// MinBatchLength is the smallest valid batch length field (a header
	// with no records).
	MinBatchLength = HeaderSize - LogOverhead

	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
	crcStart           = offAttributes
)

// Attribute bits of a record batch.
const (
	attrCompressionMask = 0x07
	// AttrLogAppendTime is the timestamp type bit: set when the broker
	// assigned the timestamp (LogAppendTime), clear for CreateTime.
	AttrLogAppendTime = 0x08
	// AttrTransactional marks a batch written inside a transaction.
	AttrTransactional = 0x10
	// AttrControl marks a control batch (transaction markers).
	AttrControl = 0x20
	// AttrDeleteHorizon marks a batch whose base timestamp is the delete
	// horizon set by compaction.
	AttrDeleteHorizon = 0x40
)

// Compression is the codec of a batch's records (attribute bits 0-2).
type Compression int8

// Compression codecs as numbered by Kafka.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

// String returns Kafka's name for the codec.
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown(%d)", int8(c))
}

// castagnoli is the CRC-32C table Kafka uses for record batches and this
// package uses for its own checkpoint files.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed header of a record batch. It is a plain value:
// ParseHeader fills it without allocating.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the size of the whole batch in bytes (12 + BatchLength).
func (h *Header) Size() int { return LogOverhead + int(h.BatchLength) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec of the records.
func (h *Header) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// LogAppendTime reports whether the timestamp type is LogAppendTime.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h *Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch holds control records.
func (h *Header) Control() bool { return h.Attributes&AttrControl != 0 }

// HasProducerID reports whether the batch was written by an idempotent or
// transactional producer (producer id >= 0).
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }

// ParseHeader decodes the fixed header at the start of b without allocating
// and checks what the header alone can tell: b holds at least HeaderSize
// bytes (ErrCorruptBatch), the batch length is at least MinBatchLength
// (ErrCorruptBatch) and the magic is 2 (ErrInvalidRecord, as Kafka answers
// a produce request with an older format). It does not require b to hold the
// whole batch, check the CRC, or look at the records; see CheckHeader and
// Validator for that.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, need %d for a batch header", ErrCorruptBatch, len(b), HeaderSize)
	}
	b = b[:HeaderSize]
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.BatchLength < MinBatchLength {
		return h, fmt.Errorf("%w: batch length %d below the minimum %d", ErrCorruptBatch, h.BatchLength, MinBatchLength)
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only magic 2 record batches are supported", ErrInvalidRecord, h.Magic)
	}
	return h, nil
}

// CheckHeader applies the header-level rules Kafka enforces on every v2
// batch, beyond what ParseHeader checks: a known compression codec, at least
// one record, a record count equal to last offset delta + 1, and a
// non-negative base sequence when a producer id is set. Violations are
// ErrInvalidRecord.
func (h *Header) CheckHeader() error {
	if c := h.Compression(); c > CompressionZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, int8(c))
	}
	if h.NumRecords <= 0 {
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	if h.LastOffsetDelta < 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return fmt.Errorf("%w: record count %d inconsistent with last offset delta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	return nil
}

// ComputeCRC returns the CRC-32C of a whole batch (bytes 21 to the end), the
// value its CRC field must hold. b must hold at least HeaderSize bytes.
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[crcStart:], castagnoli) }

// CRCValid reports whether the CRC field of the whole batch b matches its
// content. b must hold at least HeaderSize bytes.
func CRCValid(b []byte) bool {
	return binary.BigEndian.Uint32(b[offCRC:]) == ComputeCRC(b)
}

// SetBaseOffset writes the base offset of the batch at the start of b in
// place. The field is outside the CRC.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the partition leader epoch of the batch at
// the start of b in place. The field is outside the CRC.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the whole batch b as LogAppendTime with the given
// timestamp (milliseconds) as its max timestamp, and recomputes the CRC. The
// base timestamp and the records are left as they are: with LogAppendTime
// every record's timestamp is the batch's max timestamp.
func SetLogAppendTime(b []byte, timestamp int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(timestamp))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
}

// ClearLogAppendTime clears the LogAppendTime bit of the whole batch b and
// recomputes the CRC if the bit was set; it reports whether it changed b.
// A topic with message.timestamp.type=CreateTime keeps the producer's
// timestamps, so a client-set bit is cleared like Kafka does.
func ClearLogAppendTime(b []byte) bool {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	if attrs&AttrLogAppendTime == 0 {
		return false
	}
	binary.BigEndian.PutUint16(b[offAttributes:], attrs&^AttrLogAppendTime)
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return true
}

// batchBaseOffset, batchLength and batchLastOffsetDelta read single fields
// of a header in place (b must hold the bytes).
func batchBaseOffset(b []byte) int64   { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }
func batchLength(b []byte) int32       { return int32(binary.BigEndian.Uint32(b[offBatchLength:])) }
func binaryLeaderEpoch(b []byte) int32 { return int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])) }
func binaryLastOffsetDelta(b []byte) int32 {
	return int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
}
func binaryMaxTimestamp(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }
