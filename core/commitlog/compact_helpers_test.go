package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logRecord is a record as a consumer sees it, decoded with franz-go's
// kmsg (independently of the cleaner's own parser).
type logRecord struct {
	offset    int64
	timestamp int64
	key       []byte
	value     []byte
	headers   []kmsg.Header
}

func (r logRecord) String() string {
	return fmt.Sprintf("@%d ts=%d %q=%q h=%v", r.offset, r.timestamp, r.key, r.value, r.headers)
}

// sameRecord compares everything, null-ness of key and value included.
func sameRecord(a, b logRecord) bool {
	return a.offset == b.offset && a.timestamp == b.timestamp &&
		(a.key == nil) == (b.key == nil) && bytes.Equal(a.key, b.key) &&
		(a.value == nil) == (b.value == nil) && bytes.Equal(a.value, b.value) &&
		slices.EqualFunc(a.headers, b.headers, func(x, y kmsg.Header) bool {
			return x.Key == y.Key && (x.Value == nil) == (y.Value == nil) && bytes.Equal(x.Value, y.Value)
		})
}

// testDecompressor is shared: kgo's decompressor pools its decoders.
var testDecompressor = kgo.DefaultDecompressor()

// decodeBatch decodes a whole stored batch with kmsg and kgo's
// decompressor, checking its CRC and that its records' offsets lie in
// [base, base+lastOffsetDelta] in increasing order.
func decodeBatch(t testing.TB, b []byte) (kmsg.RecordBatch, []logRecord) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot read batch: %v", err)
	}
	if !CRCValid(b) {
		t.Fatalf("batch at %d: bad CRC", rb.FirstOffset)
	}
	data := rb.Records
	if codec := rb.Attributes & 7; codec != 0 {
		var err error
		if data, err = testDecompressor.Decompress(data, kgo.CompressionCodecType(codec)); err != nil {
			t.Fatalf("batch at %d: decompress: %v", rb.FirstOffset, err)
		}
	}
	var out []logRecord
	last := int64(-1)
	for range rb.NumRecords {
		n, sz := binary.Varint(data)
		if sz <= 0 || int(n) > len(data)-sz {
			t.Fatalf("batch at %d: bad record length", rb.FirstOffset)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(data[:sz+int(n)]); err != nil {
			t.Fatalf("batch at %d: record: %v", rb.FirstOffset, err)
		}
		data = data[sz+int(n):]
		r := logRecord{offset: rb.FirstOffset + int64(kr.OffsetDelta), key: kr.Key, value: kr.Value, headers: kr.Headers}
		r.timestamp = rb.FirstTimestamp + kr.TimestampDelta64
		if rb.Attributes&AttrLogAppendTime != 0 {
			r.timestamp = rb.MaxTimestamp
		}
		if r.offset <= last || r.offset > rb.FirstOffset+int64(rb.LastOffsetDelta) {
			t.Fatalf("batch at %d (last delta %d): record offset %d after %d", rb.FirstOffset, rb.LastOffsetDelta, r.offset, last)
		}
		last = r.offset
		out = append(out, r)
	}
	if len(data) != 0 {
		t.Fatalf("batch at %d: %d bytes after the records", rb.FirstOffset, len(data))
	}
	return rb, out
}

// scanLog reads the whole log like a consumer (Read from the log start
// offset, following NextOffset over gaps) and returns every batch and
// record. Batches must not overlap and must go up to the log end offset.
func scanLog(t testing.TB, l *Log) ([]kmsg.RecordBatch, []logRecord) {
	t.Helper()
	var batches []kmsg.RecordBatch
	var recs []logRecord
	off := l.LogStartOffset()
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
			if h.LastOffset() < off {
				t.Fatalf("batch [%d, %d] before offset %d", h.BaseOffset, h.LastOffset(), off)
			}
			rb, rs := decodeBatch(t, b[:h.Size()])
			batches = append(batches, rb)
			recs = append(recs, rs...)
			off = h.NextOffset()
			b = b[h.Size():]
		}
		if res.NextOffset != off {
			t.Fatalf("NextOffset %d, want %d", res.NextOffset, off)
		}
	}
	return batches, recs
}

// workload appends keyed batches to a log and remembers every record.
type workload struct {
	t    testing.TB
	l    *Log
	recs map[int64]logRecord // by offset
}

func newWorkload(t testing.TB, l *Log) *workload {
	return &workload{t: t, l: l, recs: map[int64]logRecord{}}
}

// add appends one batch of records (key/value pairs; nil is null) with the
// given codec and base timestamp; record i gets timestamp ts+i.
func (w *workload) add(codec Compression, ts int64, recs ...testRecord) AppendResult {
	w.t.Helper()
	for i := range recs {
		recs[i].tsDelta = int64(i)
	}
	b := build(w.t, batchSpec{codec: codec, records: recs, baseTimestamp: ts})
	res, err := w.l.Append(b, AppendOptions{})
	if err != nil {
		w.t.Fatalf("Append: %v", err)
	}
	for i, r := range recs {
		w.recs[res.BaseOffset+int64(i)] = logRecord{offset: res.BaseOffset + int64(i), timestamp: ts + int64(i), key: r.key, value: r.value, headers: r.headers}
	}
	return res
}

// latest is the newest record of every key appended so far.
func (w *workload) latest() map[string]logRecord {
	out := map[string]logRecord{}
	for _, off := range slices.Sorted(func(yield func(int64) bool) {
		for k := range w.recs {
			if !yield(k) {
				return
			}
		}
	}) {
		r := w.recs[off]
		if r.key != nil {
			out[string(r.key)] = r
		}
	}
	return out
}

// check verifies the compaction invariants against what was appended:
// every record in the log is byte-identical to the one appended at its
// offset, and the newest record of every key is still there, except
// tombstones (which may have been removed) and keys whose newest record
// is a tombstone (whose older values may be gone entirely).
func (w *workload) check(recs []logRecord) {
	w.t.Helper()
	have := map[int64]logRecord{}
	for _, r := range recs {
		orig, ok := w.recs[r.offset]
		if !ok {
			w.t.Fatalf("record at %d was never appended: %v", r.offset, r)
		}
		if !sameRecord(orig, r) {
			w.t.Fatalf("record changed:\n got %v\nwant %v", r, orig)
		}
		have[r.offset] = r
	}
	for k, want := range w.latest() {
		if _, ok := have[want.offset]; ok {
			continue
		}
		if want.value == nil {
			// A removed tombstone: no value of the key may remain.
			for _, r := range recs {
				if string(r.key) == k && r.key != nil {
					w.t.Fatalf("key %q: tombstone at %d removed but %v remains", k, want.offset, r)
				}
			}
			continue
		}
		w.t.Fatalf("key %q: latest record %v is gone", k, want)
	}
}

// kv is a keyed record.
func kv(key, value string) testRecord {
	return testRecord{key: []byte(key), value: []byte(value)}
}

// tomb is a tombstone.
func tomb(key string) testRecord { return testRecord{key: []byte(key)} }

// forceRoll rolls the active segment (so that everything so far may be
// cleaned).
func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active.size.Load() == 0 {
		return
	}
	if err := l.roll(l.now()); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files of src (but the lock) into a new
// directory: the disk as a crashed process would leave it.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == ".lock" {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a checkpoint's temporary file, renamed meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
		if st, err := os.Stat(filepath.Join(src, e.Name())); err == nil {
			_ = os.Chtimes(filepath.Join(dst, e.Name()), st.ModTime(), st.ModTime())
		}
	}
	return dst
}

// forceOpts runs a pass over everything below the log end offset.
func forceOpts(l *Log) CompactOptions {
	return CompactOptions{HighWatermark: l.LogEndOffset(), Force: true, DeleteRetention: time.Hour}
}
