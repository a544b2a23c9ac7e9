package commitlog

import (
	"errors"
	"testing"
)

// FuzzParseBatch feeds arbitrary bytes to the codec: it never panics, every
// error is one of the three batch sentinels, and nothing with a bad CRC (or
// a header that does not parse) is ever accepted.
func FuzzParseBatch(f *testing.F) {
	for _, c := range allCodecs {
		f.Add(build(f, batchSpec{codec: c.codec, xerial: c.xerial, records: nRecords(3, 17), baseTimestamp: 99}))
	}
	f.Add(build(f, batchSpec{records: []testRecord{{}}, producerID: 4, baseSequence: 1}))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseHeader(b)
		v := Validator{MaxUncompressedBytes: 1 << 20}
		info, err := v.ValidateBatch(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
		} else {
			if !CRCValid(b) {
				t.Fatal("accepted a batch with a bad CRC")
			}
			if info.Size() != len(b) || info.Magic != 2 || info.NumRecords != info.LastOffsetDelta+1 {
				t.Fatalf("accepted an inconsistent batch %+v", info.Header)
			}
		}
		s, err := v.Validate(b)
		if err == nil && (s.Batches < 1 || !CRCValid(b)) {
			t.Fatalf("Validate accepted %+v", s)
		}
	})
}
