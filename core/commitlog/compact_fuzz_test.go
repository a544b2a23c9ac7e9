package commitlog

import (
	"bytes"
	"testing"
)

// FuzzCompactRecords: the cleaner's record parser never panics on any
// records section, and a batch it rewrites (with a moved base timestamp,
// so every record is re-encoded) parses back to the same records with the
// same timestamps, and passes the stored-batch checks.
func FuzzCompactRecords(f *testing.F) {
	for _, recs := range [][]testRecord{
		nRecords(3, 10),
		{kv("a", "1"), tomb("b"), {value: []byte("keyless")}},
	} {
		var raw []byte
		for i, r := range recs {
			raw = appendRecord(raw, r, int32(2*i))
		}
		f.Add(raw, int32(len(recs)), int64(1000), int64(-7))
	}
	f.Fuzz(func(t *testing.T, raw []byte, count int32, baseTs, shift int64) {
		if count < 0 || count > 1000 {
			return
		}
		recs, err := parseRecords(nil, raw, count)
		if err != nil {
			return
		}
		last := int32(0)
		for _, r := range recs {
			last = max(last, r.offsetDelta)
		}
		h := Header{BaseOffset: 100, BatchLength: MinBatchLength, Magic: 2, LastOffsetDelta: last, BaseTimestamp: baseTs, MaxTimestamp: baseTs, ProducerID: -1, BaseSequence: -1, NumRecords: count}
		var enc encoders
		defer enc.close()
		for _, codec := range []Compression{CompressionNone, CompressionLZ4} {
			out, _, err := appendRewritten(nil, &h, recs, rewrite{attrs: int16(codec), baseTs: baseTs + shift}, &enc, nil)
			if err != nil {
				t.Fatal(err)
			}
			nh, err := ParseHeader(out)
			if err != nil || nh.Size() != len(out) || !CRCValid(out) || checkStoredHeader(&nh) != nil {
				t.Fatalf("rewritten batch: %+v %v", nh, err)
			}
			back, err := decompressRecords(nil, out, &nh, DefaultMaxUncompressedBytes)
			if err != nil {
				t.Fatal(err)
			}
			again, err := parseRecords(nil, back, nh.NumRecords)
			if err != nil || len(again) != len(recs) {
				t.Fatalf("reparse: %d records, %v", len(again), err)
			}
			for i := range recs {
				a, b := recs[i], again[i]
				if h.BaseTimestamp+a.tsDelta != nh.BaseTimestamp+b.tsDelta || a.offsetDelta != b.offsetDelta ||
					!bytes.Equal(a.tail, b.tail) || (a.key == nil) != (b.key == nil) || (a.value == nil) != (b.value == nil) {
					t.Fatalf("record %d changed", i)
				}
			}
		}
	})
}

// FuzzCleanerCheckpoint: decoding never panics and what decodes encodes
// back to the same bytes.
func FuzzCleanerCheckpoint(f *testing.F) {
	f.Add(cleanerCheckpoint{firstDirty: 10, cleanedEnd: 20, horizon: -1}.encode())
	f.Add([]byte("CLCC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCleanerCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.encode(), b) {
			t.Fatalf("%+v does not encode back", c)
		}
	})
}
