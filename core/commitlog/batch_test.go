package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []struct {
	name   string
	codec  Compression
	xerial bool
}{
	{"none", CompressionNone, false},
	{"gzip", CompressionGzip, false},
	{"snappy-raw", CompressionSnappy, false},
	{"snappy-xerial", CompressionSnappy, true},
	{"lz4", CompressionLZ4, false},
	{"zstd", CompressionZstd, false},
}

func TestParseHeaderFields(t *testing.T) {
	b := build(t, batchSpec{
		records:       nRecords(3, 10),
		baseOffset:    42,
		baseTimestamp: 1_700_000_000_000,
		producerID:    7,
		producerEpoch: 3,
		baseSequence:  11,
		attrs:         AttrTransactional,
		leaderEpoch:   5,
		codec:         CompressionLZ4,
	})
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 42, BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 5, Magic: 2,
		CRC: ComputeCRC(b), Attributes: AttrTransactional | int16(CompressionLZ4), LastOffsetDelta: 2,
		BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_002, ProducerID: 7, ProducerEpoch: 3,
		BaseSequence: 11, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 44 || h.NextOffset() != 45 || h.Compression() != CompressionLZ4 ||
		!h.Transactional() || h.Control() || h.LogAppendTime() || !h.HasProducerID() {
		t.Fatalf("accessors wrong for %+v", h)
	}
	// kmsg decodes the same batch identically.
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if rb.FirstOffset != h.BaseOffset || rb.CRC != int32(h.CRC) || rb.NumRecords != h.NumRecords || rb.MaxTimestamp != h.MaxTimestamp {
		t.Fatalf("kmsg disagrees: %+v", rb)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseHeader(b) }); n != 0 {
		t.Fatalf("ParseHeader allocates %v times", n)
	}
}

func TestValidateValid(t *testing.T) {
	withHeaders := []testRecord{
		{key: nil, value: nil},
		{key: []byte("k"), value: []byte{}, headers: []kmsg.Header{{Key: "h1", Value: []byte("v1")}, {Key: "", Value: nil}}},
		{key: []byte{}, value: bytes.Repeat([]byte("x"), 100_000), tsDelta: 5},
		{key: []byte("neg"), value: []byte("ts"), tsDelta: -3},
	}
	for _, c := range allCodecs {
		for _, tc := range []struct {
			name string
			spec batchSpec
		}{
			{"one", batchSpec{records: nRecords(1, 1)}},
			{"many-small", batchSpec{records: nRecords(500, 3)}},
			{"1KiB-x16", batchSpec{records: nRecords(16, 1024)}},
			{"headers-nulls-big", batchSpec{records: withHeaders}},
			{"idempotent", batchSpec{records: nRecords(4, 8), producerID: 99, producerEpoch: 1, baseSequence: 0}},
			{"transactional", batchSpec{records: nRecords(4, 8), producerID: 99, baseSequence: 5, attrs: AttrTransactional}},
			{"log-append-time", batchSpec{records: nRecords(2, 8), attrs: AttrLogAppendTime, baseTimestamp: 1000}},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				spec := tc.spec
				spec.codec, spec.xerial = c.codec, c.xerial
				spec.baseTimestamp += 1_000_000
				b := build(t, spec)
				orig := bytes.Clone(b)
				var v Validator
				info, err := v.ValidateBatch(b)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, orig) {
					t.Fatal("ValidateBatch modified the batch")
				}
				if int(info.NumRecords) != len(spec.records) {
					t.Fatalf("count %d", info.NumRecords)
				}
				minTs, maxTs := int64(1<<62), int64(-1<<62)
				for _, r := range spec.records {
					minTs = min(minTs, spec.baseTimestamp+r.tsDelta)
					maxTs = max(maxTs, spec.baseTimestamp+r.tsDelta)
				}
				if info.LogAppendTime() {
					minTs, maxTs = info.MaxTimestamp, info.MaxTimestamp
				}
				if info.MinRecordTimestamp != minTs || info.MaxRecordTimestamp != maxTs {
					t.Fatalf("timestamps %d..%d, want %d..%d", info.MinRecordTimestamp, info.MaxRecordTimestamp, minTs, maxTs)
				}
				s, err := v.Validate(append(bytes.Clone(b), b...))
				if err != nil {
					t.Fatal(err)
				}
				if s.Batches != 2 || s.Records != 2*int64(len(spec.records)) || s.First.Header != info.Header {
					t.Fatalf("summary %+v", s)
				}
			})
		}
	}
}

func TestValidateUncompressedNoAllocs(t *testing.T) {
	b := simpleBatch(t, 16, 1024, 1)
	var v Validator
	if n := testing.AllocsPerRun(50, func() {
		if _, err := v.ValidateBatch(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("ValidateBatch allocates %v times per uncompressed batch", n)
	}
}

// mutate returns a copy of b changed by f, with the CRC recomputed if fix.
func mutate(b []byte, fix bool, f func([]byte) []byte) []byte {
	c := f(bytes.Clone(b))
	if fix && len(c) >= HeaderSize {
		fixCRC(c)
	}
	return c
}

// rawBatch builds a batch from hand-encoded records with the given count.
func rawBatch(codec Compression, count int32, records ...[]byte) []byte {
	payload := bytes.Join(records, nil)
	if codec == CompressionSnappy {
		payload = s2.EncodeSnappy(nil, payload)
	}
	return buildRaw(batchSpec{codec: codec, producerID: -1, baseSequence: -1, producerEpoch: -1}, count, count-1, payload)
}

// rec hand-encodes a record body (everything after the length) and
// prefixes the given length (or the true one if length < -1).
func rec(length int64, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	if length < -1 {
		length = int64(len(b))
	}
	return append(binary.AppendVarint(nil, length), b...)
}

func vi(v int64) []byte { return binary.AppendVarint(nil, v) }

func TestValidateInvalid(t *testing.T) {
	good := simpleBatch(t, 3, 10, 1000)
	okBody := [][]byte{{0}, vi(0), vi(0), vi(1), {'k'}, vi(1), {'v'}, vi(0)}
	withDelta := func(d int64) [][]byte {
		return [][]byte{{0}, vi(0), vi(d), vi(1), {'k'}, vi(1), {'v'}, vi(0)}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		v    Validator
		want error
	}{
		{"empty", nil, Validator{}, ErrCorruptBatch},
		{"short header", good[:HeaderSize-1], Validator{}, ErrCorruptBatch},
		{"length below minimum", mutate(good, false, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], MinBatchLength-1)
			return b
		}), Validator{}, ErrCorruptBatch},
		{"length beyond data", mutate(good, false, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)))
			return b
		}), Validator{}, ErrCorruptBatch},
		{"truncated", good[:len(good)-1], Validator{}, ErrCorruptBatch},
		{"magic 1", mutate(good, true, func(b []byte) []byte { b[offMagic] = 1; return b }), Validator{}, ErrInvalidRecord},
		{"bad crc", mutate(good, false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), Validator{}, ErrCorruptBatch},
		{"bad crc field", mutate(good, false, func(b []byte) []byte { b[offCRC] ^= 0x80; return b }), Validator{}, ErrCorruptBatch},
		{"too large", good, Validator{MaxBatchBytes: len(good) - 1}, ErrBatchTooLarge},
		{"count zero", mutate(good, true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 0)
			return b
		}), Validator{}, ErrInvalidRecord},
		{"count vs last offset delta", mutate(good, true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 5)
			return b
		}), Validator{}, ErrInvalidRecord},
		{"unknown codec", mutate(good, true, func(b []byte) []byte { b[offAttributes+1] |= 5; return b }), Validator{}, ErrInvalidRecord},
		{"producer id without sequence", mutate(good, true, func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[offProducerID:], 5)
			binary.BigEndian.PutUint32(b[offBaseSequence:], 0xffffffff)
			return b
		}), Validator{}, ErrInvalidRecord},
		{"client base offset", mutate(good, false, func(b []byte) []byte { SetBaseOffset(b, 3); return b }), Validator{ClientOrigin: true}, ErrInvalidRecord},
		{"client control batch", mutate(good, true, func(b []byte) []byte { b[offAttributes+1] |= AttrControl; return b }), Validator{ClientOrigin: true}, ErrInvalidRecord},
		{"fewer records than count", rawBatch(CompressionNone, 2, rec(-2, okBody...)), Validator{}, ErrInvalidRecord},
		{"trailing bytes", rawBatch(CompressionNone, 1, rec(-2, okBody...), []byte{0}), Validator{}, ErrInvalidRecord},
		{"record length too long", rawBatch(CompressionNone, 1, rec(12, okBody...)), Validator{}, ErrInvalidRecord},
		{"record length too short", rawBatch(CompressionNone, 1, rec(5, okBody...), []byte{0, 0, 0, 0}), Validator{}, ErrInvalidRecord},
		{"negative record length", rawBatch(CompressionNone, 1, rec(-1, okBody...)), Validator{}, ErrInvalidRecord},
		{"key length -2", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-2), vi(-1), vi(0))), Validator{}, ErrInvalidRecord},
		{"value length -2", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(-2), vi(0))), Validator{}, ErrInvalidRecord},
		{"varint too long", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, vi(-1), vi(-1), vi(0))), Validator{}, ErrInvalidRecord},
		{"varlong too long", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, bytes.Repeat([]byte{0x80}, 11), vi(0), vi(-1), vi(-1), vi(0))), Validator{}, ErrInvalidRecord},
		{"negative header count", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-1))), Validator{}, ErrInvalidRecord},
		{"null header key", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))), Validator{}, ErrInvalidRecord},
		{"header value -2", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(0), vi(-2))), Validator{}, ErrInvalidRecord},
		{"key past end", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(100), []byte("short"))), Validator{}, ErrInvalidRecord},
		{"huge header count", rawBatch(CompressionNone, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30))), Validator{}, ErrInvalidRecord},
		{"garbage records", rawBatch(CompressionNone, 1, []byte("not a record at all")), Validator{}, ErrInvalidRecord},
		{"gzip garbage", rawBatch(CompressionGzip, 1, []byte("not gzip at all")), Validator{}, ErrCorruptBatch},
		{"lz4 garbage", rawBatch(CompressionLZ4, 1, []byte("not lz4 at all")), Validator{}, ErrCorruptBatch},
		{"zstd garbage", rawBatch(CompressionZstd, 1, []byte("not zstd at all")), Validator{}, ErrCorruptBatch},
		{"xerial truncated block", buildRaw(batchSpec{codec: CompressionSnappy, producerID: -1, baseSequence: -1}, 1, 0,
			append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1)), Validator{}, ErrCorruptBatch},
		{"xerial bad block", buildRaw(batchSpec{codec: CompressionSnappy, producerID: -1, baseSequence: -1}, 1, 0,
			append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff)), Validator{}, ErrCorruptBatch},
		{"compressed fewer records", rawBatch(CompressionSnappy, 2, rec(-2, okBody...)), Validator{}, ErrInvalidRecord},
		{"compressed trailing bytes", rawBatch(CompressionSnappy, 1, rec(-2, okBody...), []byte{1, 2}), Validator{}, ErrInvalidRecord},
		{"compressed offset deltas", rawBatch(CompressionSnappy, 2, rec(-2, withDelta(0)...), rec(-2, withDelta(5)...)), Validator{}, ErrInvalidRecord},
		{"compressed bomb", rawBatch(CompressionSnappy, 1, rec(-2, []byte{0}, vi(0), vi(0), vi(-1), vi(1<<20), make([]byte, 1<<20), vi(0))), Validator{MaxUncompressedBytes: 64 << 10}, ErrBatchTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.ValidateBatch(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateBatch: %v, want %v", err, tc.want)
			}
			if _, err := tc.v.Validate(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
		})
	}
	// uncompressed offset deltas are not checked (Kafka does not either).
	var v Validator
	if _, err := v.ValidateBatch(rawBatch(CompressionNone, 2, rec(-2, withDelta(0)...), rec(-2, withDelta(7)...))); err != nil {
		t.Fatalf("uncompressed non-sequential deltas: %v", err)
	}
}

func TestValidateCorruptCompressed(t *testing.T) {
	recs := nRecords(50, 100)
	for _, c := range allCodecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, batchSpec{codec: c.codec, xerial: c.xerial, records: recs})
			var v Validator
			// Flip bytes all over the payload (with a fixed CRC): never a
			// panic, never accepted as something else than what it is.
			for i := HeaderSize; i < len(b); i += max(1, (len(b)-HeaderSize)/97) {
				bad := mutate(b, true, func(x []byte) []byte { x[i] ^= 0x5a; return x })
				_, err := v.ValidateBatch(bad)
				if err != nil && !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrBatchTooLarge) {
					t.Fatalf("byte %d: unexpected error %v", i, err)
				}
			}
			// Truncated payloads with a fixed length and CRC are rejected.
			for _, cut := range []int{1, 2, 7, (len(b) - HeaderSize) / 2} {
				bad := mutate(b[:len(b)-cut], false, func(x []byte) []byte {
					binary.BigEndian.PutUint32(x[offBatchLength:], uint32(len(x)-LogOverhead))
					return fixCRC(x)
				})
				if _, err := v.ValidateBatch(bad); err == nil {
					t.Fatalf("cut %d: accepted a truncated %s payload", cut, c.name)
				}
			}
		})
	}
}

func TestRewriteInPlace(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, batchSpec{codec: c.codec, xerial: c.xerial, records: nRecords(5, 20), baseTimestamp: 1000})
			SetBaseOffset(b, 1<<40)
			SetPartitionLeaderEpoch(b, 17)
			var v Validator
			info, err := v.ValidateBatch(b)
			if err != nil {
				t.Fatalf("CRC must survive base offset/epoch rewrite: %v", err)
			}
			if info.BaseOffset != 1<<40 || info.PartitionLeaderEpoch != 17 {
				t.Fatalf("%+v", info.Header)
			}
			SetLogAppendTime(b, 5555)
			info, err = v.ValidateBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if !info.LogAppendTime() || info.MaxTimestamp != 5555 || info.BaseTimestamp != 1000 || info.MaxRecordTimestamp != 5555 || info.Compression() != c.codec {
				t.Fatalf("after SetLogAppendTime: %+v", info)
			}
			if !ClearLogAppendTime(b) || ClearLogAppendTime(b) {
				t.Fatal("ClearLogAppendTime")
			}
			if !SetMaxTimestamp(b, 1004) || SetMaxTimestamp(b, 1004) {
				t.Fatal("SetMaxTimestamp")
			}
			info, err = v.ValidateBatch(b)
			if err != nil || info.LogAppendTime() || info.MaxTimestamp != 1004 {
				t.Fatalf("%+v %v", info, err)
			}
		})
	}
}

func TestCompressionString(t *testing.T) {
	for c, s := range map[Compression]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd", 6: "unknown(6)"} {
		if c.String() != s {
			t.Errorf("%d: %q", c, c.String())
		}
	}
}
