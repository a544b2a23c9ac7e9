package commitlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecord is one record to encode into a test batch.
type testRecord struct {
	key, value []byte // nil encodes a null key/value
	headers    []kmsg.Header
	tsDelta    int64
}

// appendRecord encodes r with the given offset delta, computing its length.
func appendRecord(dst []byte, r testRecord, offsetDelta int32) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.tsDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarBytes(body, r.key)
	body = appendVarBytes(body, r.value)
	body = binary.AppendVarint(body, int64(len(r.headers)))
	for _, h := range r.headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// batchSpec describes a test batch.
type batchSpec struct {
	codec         Compression
	xerial        bool // snappy only: xerial framing instead of a raw block
	records       []testRecord
	baseOffset    int64
	baseTimestamp int64
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	attrs         int16 // extra attribute bits
	leaderEpoch   int32
}

// nRecords returns n records with valueSize-byte values and increasing
// timestamp deltas.
func nRecords(n, valueSize int) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		recs[i] = testRecord{key: fmt.Appendf(nil, "key-%d", i), value: v, tsDelta: int64(i)}
	}
	return recs
}

var testCompressors = map[Compression]kgo.CompressionCodec{
	CompressionGzip:   kgo.GzipCompression(),
	CompressionSnappy: kgo.SnappyCompression(),
	CompressionLZ4:    kgo.Lz4Compression(),
	CompressionZstd:   kgo.ZstdCompression(),
}

// compress compresses raw records the way franz-go producers do (snappy as
// a raw block), or xerial-framed snappy in 1 KiB blocks.
func compress(t testing.TB, c Compression, xerial bool, raw []byte) []byte {
	t.Helper()
	if c == CompressionSnappy && xerial {
		out := append([]byte{}, xerialMagic...)
		out = binary.BigEndian.AppendUint32(out, 1)
		out = binary.BigEndian.AppendUint32(out, 1)
		for len(raw) > 0 {
			n := min(1024, len(raw))
			blk := s2.EncodeSnappy(nil, raw[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
			out = append(out, blk...)
			raw = raw[n:]
		}
		return out
	}
	comp, err := kgo.DefaultCompressor(testCompressors[c])
	if err != nil {
		t.Fatal(err)
	}
	out, codec := comp.Compress(new(bytes.Buffer), raw)
	if int8(codec) != int8(c) {
		t.Fatalf("compressor used codec %d, want %d", codec, c)
	}
	return bytes.Clone(out)
}

// buildRaw builds a batch around an already encoded (and possibly
// compressed) records payload with an explicit count; the CRC is correct.
func buildRaw(s batchSpec, count, lastOffsetDelta int32, payload []byte) []byte {
	maxDelta := int64(0)
	for _, r := range s.records {
		maxDelta = max(maxDelta, r.tsDelta)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          s.baseOffset,
		Length:               int32(MinBatchLength + len(payload)),
		PartitionLeaderEpoch: s.leaderEpoch,
		Magic:                2,
		Attributes:           int16(s.codec) | s.attrs,
		LastOffsetDelta:      lastOffsetDelta,
		FirstTimestamp:       s.baseTimestamp,
		MaxTimestamp:         s.baseTimestamp + maxDelta,
		ProducerID:           s.producerID,
		ProducerEpoch:        s.producerEpoch,
		FirstSequence:        s.baseSequence,
		NumRecords:           count,
		Records:              payload,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}

// build encodes s into a valid batch.
func build(t testing.TB, s batchSpec) []byte {
	t.Helper()
	if s.producerID == 0 {
		s.producerID = -1
		s.producerEpoch = -1
		s.baseSequence = -1
	}
	var raw []byte
	for i, r := range s.records {
		raw = appendRecord(raw, r, int32(i))
	}
	payload := raw
	if s.codec != CompressionNone {
		payload = compress(t, s.codec, s.xerial, raw)
	}
	n := int32(len(s.records))
	return buildRaw(s, n, n-1, payload)
}

// simpleBatch is an uncompressed batch of n records of valueSize bytes with
// the given base timestamp.
func simpleBatch(t testing.TB, n, valueSize int, baseTs int64) []byte {
	t.Helper()
	return build(t, batchSpec{records: nRecords(n, valueSize), baseTimestamp: baseTs})
}

// fixCRC recomputes the CRC of a whole batch after a test mutated it.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}

// crash stops a log the way a killed process would: no index flush, no
// fsync, no clean-shutdown checkpoint. The bytes already written stay in the
// files (they are in the page cache, which survives a process crash).
func (l *Log) crash() {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed.Store(true)
		for _, s := range *l.segs.Load() {
			s.release()
		}
		_ = l.unlock()
		l.notifyClosed()
	})
}

// eventually polls check until it returns nil, failing the test with the
// last error after a deadline.
func eventually(t testing.TB, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// smallConfig has tiny segments and a dense index, to exercise rolling and
// lookups with little data.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 300
	return c
}

// openLog opens a log that the test closes at cleanup.
func openLog(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	l, err := Open(t.Context(), dir, cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// mustAppend appends a batch and returns the result.
func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	r, err := l.Append(b, AppendOptions{})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return r
}

// readAll reads the whole log from its start and returns every batch,
// checking that offsets continue and every CRC is valid.
func readAll(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	off := l.LogStartOffset()
	first := true
	for off < l.LogEndOffset() {
		res, err := l.Read(nil, off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("Read(%d) returned nothing before the end %d", off, l.LogEndOffset())
		}
		for b := res.Data; len(b) > 0; {
			h, err := ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			batch := b[:h.Size()]
			if !CRCValid(batch) {
				t.Fatalf("batch at %d has a bad CRC", h.BaseOffset)
			}
			if !first && h.BaseOffset != off {
				t.Fatalf("batch at %d, expected %d", h.BaseOffset, off)
			}
			if first && (h.BaseOffset > off || h.LastOffset() < off) {
				t.Fatalf("first batch [%d, %d] does not hold %d", h.BaseOffset, h.LastOffset(), off)
			}
			first = false
			out = append(out, bytes.Clone(batch))
			off = h.NextOffset()
			b = b[h.Size():]
		}
		if res.NextOffset != off {
			t.Fatalf("NextOffset %d, want %d", res.NextOffset, off)
		}
	}
	return out
}
