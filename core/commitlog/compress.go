package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompression for validation and timestamp lookups. Every codec is read
// as a stream through a small scratch buffer, so a batch is never held
// decompressed in memory as a whole (except raw snappy, which has no
// framing: its decoded length is checked against the bound before the
// buffer is grown). Decoders are pooled; none of them starts goroutines
// (zstd runs with concurrency 1, which decodes synchronously).
//
// Kafka's framing per codec:
//
//	gzip    RFC 1952 stream (several members allowed)
//	snappy  xerial framing: 8-byte magic 82 'SNAPPY' 00, version int32,
//	        compatible version int32, then blocks of (int32 length, raw
//	        snappy block); or a single raw snappy block (librdkafka, franz-go)
//	lz4     LZ4 frame format
//	zstd    zstd frames

// scratchSize is the streaming buffer of a compressed walk.
const scratchSize = 32 << 10

// maxPooledSnappy bounds the snappy output buffer kept in the pool.
const maxPooledSnappy = 1 << 20

// decoder holds one of each codec reader plus the buffers a walk needs.
// Instances live in decoderPool.
type decoder struct {
	src     bytes.Reader
	scratch [scratchSize]byte

	gz      gzip.Reader
	lz      *lz4.Reader
	zs      *zstd.Decoder
	snappy  snappyReader
	current io.Reader
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// open prepares d to decompress payload with codec c and returns the
// reader, or an ErrCorruptBatch error if the stream header is unusable.
func (d *decoder) open(c Compression, payload []byte, limit int64) (io.Reader, error) {
	d.src.Reset(payload)
	switch c {
	case CompressionGzip:
		if err := d.gz.Reset(&d.src); err != nil {
			return nil, fmt.Errorf("%w: gzip header: %w", ErrCorruptBatch, err)
		}
		d.gz.Multistream(true)
		d.current = &d.gz
	case CompressionSnappy:
		if err := d.snappy.reset(payload, limit); err != nil {
			return nil, err
		}
		d.current = &d.snappy
	case CompressionLZ4:
		if d.lz == nil {
			d.lz = lz4.NewReader(nil)
		}
		d.lz.Reset(&d.src)
		d.current = d.lz
	case CompressionZstd:
		if d.zs == nil {
			zs, err := zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(64<<20),
			)
			if err != nil {
				return nil, fmt.Errorf("commitlog: zstd decoder: %w", err)
			}
			d.zs = zs
		}
		if err := d.zs.Reset(&d.src); err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorruptBatch, err)
		}
		d.current = d.zs
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, int8(c))
	}
	return d.current, nil
}

// release drops references to the payload and returns d to the pool.
func (d *decoder) release() {
	d.src.Reset(nil)
	if d.zs != nil && d.current == io.Reader(d.zs) {
		_ = d.zs.Reset(nil)
	}
	if d.lz != nil && d.current == io.Reader(d.lz) {
		d.lz.Reset(nil)
	}
	d.snappy.src = nil
	if cap(d.snappy.out) > maxPooledSnappy {
		d.snappy.out = nil
	}
	d.current = nil
	decoderPool.Put(d)
}

// xerialMagic starts a xerial-framed snappy payload.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// errSnappy is wrapped into ErrCorruptBatch for malformed snappy payloads.
var errSnappy = errors.New("malformed snappy payload")

// snappyReader decodes a snappy payload (xerial-framed or raw) as an
// io.Reader, one block at a time.
type snappyReader struct {
	src     []byte // remaining undecoded input
	xerial  bool
	out     []byte // decode buffer
	pending []byte // decoded bytes not yet read
	total   int64  // decoded so far
	limit   int64
}

func (s *snappyReader) reset(payload []byte, limit int64) error {
	s.pending, s.total, s.limit = nil, 0, limit
	if len(payload) >= 16 && bytes.Equal(payload[:8], xerialMagic) {
		s.xerial = true
		s.src = payload[16:]
		return nil
	}
	s.xerial = false
	s.src = payload
	return nil
}

// block decodes the next block into s.pending.
func (s *snappyReader) block() error {
	var blk []byte
	if s.xerial {
		if len(s.src) < 4 {
			return fmt.Errorf("%w: %w: truncated xerial block length", ErrCorruptBatch, errSnappy)
		}
		n := binary.BigEndian.Uint32(s.src)
		if int64(n) > int64(len(s.src)-4) {
			return fmt.Errorf("%w: %w: xerial block of %d bytes, %d left", ErrCorruptBatch, errSnappy, n, len(s.src)-4)
		}
		blk, s.src = s.src[4:4+n], s.src[4+n:]
	} else {
		blk, s.src = s.src, nil
	}
	l, err := s2.DecodedLen(blk)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrCorruptBatch, errSnappy, err)
	}
	if s.total+int64(l) > s.limit {
		return fmt.Errorf("%w: records decompress to more than %d bytes", ErrBatchTooLarge, s.limit)
	}
	if cap(s.out) < l {
		s.out = make([]byte, l)
	}
	dec, err := s2.Decode(s.out[:l], blk)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrCorruptBatch, errSnappy, err)
	}
	s.total += int64(len(dec))
	s.pending = dec
	return nil
}

// Read implements io.Reader.
func (s *snappyReader) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if len(s.src) == 0 {
			return 0, io.EOF
		}
		if err := s.block(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
