package commitlog

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// snapshotDir returns the content of every file in dir except the lock.
func snapshotDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range entries {
		if e.Name() == lockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// writeDir creates a new directory holding files.
func writeDir(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameFiles fails unless dir holds exactly files.
func sameFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	got := snapshotDir(t, dir)
	if !maps.EqualFunc(got, files, bytes.Equal) {
		t.Fatalf("directory changed: %v vs %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(files)))
	}
}

// lastSegmentName returns the name of the newest .log file.
func lastSegmentName(files map[string][]byte) string {
	var last string
	for name := range files {
		if filepath.Ext(name) == logSuffix && name > last {
			last = name
		}
	}
	return last
}

// crashedLog builds a log of n small batches over several segments and
// crashes it; it returns the files and the batches.
func crashedLog(t testing.TB, n int, cfg Config) (map[string][]byte, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(t.Context(), dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := allCodecs[i%len(allCodecs)]
		b := build(t, batchSpec{codec: c.codec, xerial: c.xerial, records: nRecords(1+i%4, 40+i), baseTimestamp: int64(1000 + i)})
		if _, err := l.Append(b, AppendOptions{LeaderEpoch: int32(i / 7)}); err != nil {
			t.Fatal(err)
		}
	}
	batches := readAll(t, l)
	l.crash()
	return snapshotDir(t, dir), batches
}

// checkPrefix opens dir and checks that the log holds exactly want.
func checkPrefix(t testing.TB, dir string, cfg Config, want [][]byte) *Log {
	t.Helper()
	l, err := Open(t.Context(), dir, cfg, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d batches after recovery, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs after recovery", i)
		}
	}
	var end int64
	if len(want) > 0 {
		h, _ := ParseHeader(want[len(want)-1])
		end = h.NextOffset()
	}
	if l.LogEndOffset() != end {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), end)
	}
	return l
}

// TestRecoverTornWriteEveryByte cuts the last segment at every length
// inside its last batch: recovery keeps every batch before it, and the log
// takes appends again.
func TestRecoverTornWriteEveryByte(t *testing.T) {
	cfg := smallConfig()
	files, batches := crashedLog(t, 30, cfg)
	last := lastSegmentName(files)
	seg := files[last]
	lastSize := len(batches[len(batches)-1])
	start := len(seg) - lastSize
	for cut := start; cut < len(seg); cut++ {
		damaged := maps.Clone(files)
		damaged[last] = seg[:cut]
		dir := writeDir(t, damaged)
		l := checkPrefix(t, dir, cfg, batches[:len(batches)-1])
		epoch, _ := l.LatestEpoch()
		r, err := l.Append(simpleBatch(t, 2, 10, 1), AppendOptions{LeaderEpoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(batches[len(batches)-1])
		if r.BaseOffset != h.BaseOffset {
			t.Fatalf("cut %d: append at %d, want %d", cut, r.BaseOffset, h.BaseOffset)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The same with a clean-shutdown checkpoint: the tail check catches it.
	dir := t.TempDir()
	l := openLog(t, dir, cfg, Options{})
	for _, b := range batches {
		if _, err := l.AppendReplicated(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clean := snapshotDir(t, dir)
	for _, cut := range []int{start, start + 1, start + HeaderSize, len(seg) - 1} {
		damaged := maps.Clone(clean)
		damaged[last] = clean[last][:cut]
		l := checkPrefix(t, writeDir(t, damaged), cfg, batches[:len(batches)-1])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoverGarbageTails(t *testing.T) {
	cfg := smallConfig()
	files, batches := crashedLog(t, 20, cfg)
	last := lastSegmentName(files)
	h, _ := ParseHeader(batches[len(batches)-1])
	nextHeader := simpleBatch(t, 1, 10, 1)
	SetBaseOffset(nextHeader, h.NextOffset())
	for name, tail := range map[string][]byte{
		"zeros":               make([]byte, 5000),
		"ones":                bytes.Repeat([]byte{0xff}, 100),
		"short":               {1, 2, 3},
		"next batch bad crc":  mutate(fixCRC(nextHeader), false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"next batch partial":  fixCRC(nextHeader)[:HeaderSize+2],
		"next batch header":   fixCRC(nextHeader)[:HeaderSize],
		"stale older batch":   batches[0],
		"old batch then junk": append(bytes.Clone(batches[1]), 9, 9, 9),
	} {
		t.Run(name, func(t *testing.T) {
			damaged := maps.Clone(files)
			damaged[last] = slices.Concat(files[last], tail)
			checkPrefix(t, writeDir(t, damaged), cfg, batches)
		})
	}
}

func TestRecoverRefusesMiddleCorruption(t *testing.T) {
	cfg := smallConfig()
	files, batches := crashedLog(t, 20, cfg)
	last := lastSegmentName(files)
	seg := files[last]
	// The last segment holds at least three batches; damage the first.
	var firstLen int
	if h, err := ParseHeader(seg); err == nil {
		firstLen = h.Size()
	}
	if firstLen == 0 || firstLen >= len(seg)-100 {
		t.Fatalf("last segment too small for the test (%d bytes)", len(seg))
	}
	for name, mut := range map[string]func([]byte){
		"bad crc":         func(b []byte) { b[firstLen/2] ^= 0x10 },
		"bad length":      func(b []byte) { b[offBatchLength] = 0x7f },
		"bad base offset": func(b []byte) { b[offBaseOffset+7] ^= 1 },
		"zeroed header":   func(b []byte) { clear(b[:HeaderSize]) },
	} {
		t.Run(name, func(t *testing.T) {
			damaged := maps.Clone(files)
			damaged[last] = bytes.Clone(seg)
			mut(damaged[last])
			dir := writeDir(t, damaged)
			if _, err := Open(t.Context(), dir, cfg, Options{}); !errors.Is(err, ErrCorruptLog) {
				t.Fatalf("Open: %v", err)
			}
			sameFiles(t, dir, damaged)
			// The repair option truncates at the damage.
			l, err := Open(t.Context(), dir, cfg, Options{TruncateOnCorruption: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			base, _, _ := parseSegmentName(last)
			if l.LogEndOffset() != base {
				t.Fatalf("repaired log ends at %d, want %d", l.LogEndOffset(), base)
			}
			readAll(t, l)
		})
	}
	// Without index files too: Open creates nothing before refusing.
	damaged := maps.Clone(files)
	damaged[last] = bytes.Clone(seg)
	damaged[last][firstLen/2] ^= 0x10
	base, _, _ := parseSegmentName(last)
	delete(damaged, segmentName(base, indexSuffix))
	delete(damaged, segmentName(base, timeIndexSuffix))
	dir := writeDir(t, damaged)
	if _, err := Open(t.Context(), dir, cfg, Options{}); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("Open: %v", err)
	}
	sameFiles(t, dir, damaged)
	_ = batches
}

func TestRecoverEarlierSegmentDamage(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1024
	files, batches := crashedLog(t, 30, cfg)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if filepath.Ext(n) == logSuffix && !yield(n) {
				return
			}
		}
	})
	if len(names) < 3 {
		t.Fatalf("%d segments", len(names))
	}
	prev := names[len(names)-2]
	// A torn tail in a segment followed by one holding data: refused.
	damaged := maps.Clone(files)
	damaged[prev] = files[prev][:len(files[prev])-3]
	dir := writeDir(t, damaged)
	if _, err := Open(t.Context(), dir, cfg, Options{}); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("Open: %v", err)
	}
	sameFiles(t, dir, damaged)

	// The same when the later segment is empty (a roll, then a crash):
	// the tail is truncated and the empty segment removed.
	last := names[len(names)-1]
	lastBase, _, _ := parseSegmentName(last)
	damaged = maps.Clone(files)
	delete(damaged, last)
	delete(damaged, segmentName(lastBase, indexSuffix))
	delete(damaged, segmentName(lastBase, timeIndexSuffix))
	prevData := files[prev]
	// Find where the last batch of prev starts to know what survives.
	var pos, lastStart int
	for pos < len(prevData) {
		h, _ := ParseHeader(prevData[pos:])
		lastStart = pos
		pos += h.Size()
	}
	damaged[prev] = prevData[:len(prevData)-3]
	damaged[last] = nil
	dir = writeDir(t, damaged)
	var want [][]byte
	for _, b := range batches {
		h, _ := ParseHeader(b)
		if h.BaseOffset < lastBase {
			want = append(want, b)
		}
	}
	want = want[:len(want)-1]
	_ = lastStart
	l := checkPrefix(t, dir, cfg, want)
	if _, err := os.Stat(filepath.Join(dir, last)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty segment not removed: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A missing segment in the middle is a gap: refused.
	damaged = maps.Clone(files)
	delete(damaged, names[1])
	dir = writeDir(t, damaged)
	if _, err := Open(t.Context(), dir, cfg, Options{}); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("gap: %v", err)
	}
	sameFiles(t, dir, damaged)
}

func TestRecoverIndexes(t *testing.T) {
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 100
	dir := t.TempDir()
	l := openLog(t, dir, cfg, Options{})
	for i := range 40 {
		mustAppend(t, l, simpleBatch(t, 1+i%3, 60, int64(1000+i*10)))
	}
	want := readAll(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := snapshotDir(t, dir)
	names := slices.Sorted(maps.Keys(files))
	var sealedIdx, activeIdx, sealedTime string
	for _, n := range names {
		switch filepath.Ext(n) {
		case indexSuffix:
			if sealedIdx == "" {
				sealedIdx = n
			}
			activeIdx = n
		case timeIndexSuffix:
			if sealedTime == "" {
				sealedTime = n
			}
		}
	}
	if len(files[sealedIdx]) < 3*offsetEntrySize || len(files[sealedTime]) < 2*timeEntrySize {
		t.Fatalf("indexes too small: %d %d", len(files[sealedIdx]), len(files[sealedTime]))
	}
	for name, mut := range map[string]func(map[string][]byte){
		"missing index":         func(m map[string][]byte) { delete(m, sealedIdx) },
		"missing time index":    func(m map[string][]byte) { delete(m, sealedTime) },
		"missing active index":  func(m map[string][]byte) { delete(m, activeIdx) },
		"odd size":              func(m map[string][]byte) { m[sealedIdx] = m[sealedIdx][:len(m[sealedIdx])-3] },
		"last entry wrong pos":  func(m map[string][]byte) { b := bytes.Clone(m[sealedIdx]); b[len(b)-1] ^= 4; m[sealedIdx] = b },
		"last entry past end":   func(m map[string][]byte) { b := bytes.Clone(m[sealedIdx]); b[len(b)-4] = 0x7f; m[sealedIdx] = b },
		"time entry wrong ts":   func(m map[string][]byte) { b := bytes.Clone(m[sealedTime]); b[len(b)-5] ^= 1; m[sealedTime] = b },
		"time entry bad offset": func(m map[string][]byte) { b := bytes.Clone(m[sealedTime]); b[len(b)-1] ^= 0x40; m[sealedTime] = b },
		"garbage index": func(m map[string][]byte) {
			m[sealedIdx] = bytes.Repeat([]byte{0xab}, len(m[sealedIdx]))
		},
	} {
		t.Run(name, func(t *testing.T) {
			damaged := maps.Clone(files)
			mut(damaged)
			dir := writeDir(t, damaged)
			l := checkPrefix(t, dir, cfg, want)
			// Lookups at every offset and timestamp work.
			for off := int64(0); off < l.LogEndOffset(); off++ {
				res, err := l.Read(nil, off, 1, math.MaxInt64)
				h, _ := ParseHeader(res.Data)
				if err != nil || h.BaseOffset > off || h.LastOffset() < off {
					t.Fatalf("Read(%d): %+v %v", off, h, err)
				}
			}
			for i := range 40 {
				r, ok, err := l.OffsetForTimestamp(int64(1000 + i*10))
				if err != nil || !ok || r.Timestamp < int64(1000+i*10) {
					t.Fatalf("ts %d: %+v %v %v", 1000+i*10, r, ok, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// The rebuilt sealed indexes are the ones written originally.
			after := snapshotDir(t, dir)
			for _, n := range []string{sealedIdx, sealedTime} {
				if !bytes.Equal(after[n], files[n]) {
					t.Fatalf("%s rebuilt differently: %d vs %d bytes", n, len(after[n]), len(files[n]))
				}
			}
		})
	}
}

func TestRecoverLeftoversAndCheckpoints(t *testing.T) {
	cfg := smallConfig()
	files, batches := crashedLog(t, 20, cfg)
	epochs := files[epochCheckpointFile]
	damaged := maps.Clone(files)
	damaged[segmentName(999999, logSuffix+deletedSuffix)] = []byte("old")
	damaged[checkpointFile+tmpSuffix] = []byte("partial")
	damaged[segmentName(888888, indexSuffix)] = []byte("orphan")
	damaged["unrelated.txt"] = []byte("kept")
	damaged[checkpointFile] = []byte("garbage")
	delete(damaged, epochCheckpointFile)
	dir := writeDir(t, damaged)
	l := checkPrefix(t, dir, cfg, batches)
	after := snapshotDir(t, dir)
	for _, gone := range []string{segmentName(999999, logSuffix+deletedSuffix), checkpointFile + tmpSuffix, segmentName(888888, indexSuffix)} {
		if _, ok := after[gone]; ok {
			t.Errorf("%s not removed", gone)
		}
	}
	if _, ok := after["unrelated.txt"]; !ok {
		t.Error("unrelated file removed")
	}
	if !bytes.Equal(after[epochCheckpointFile], epochs) {
		t.Errorf("epoch checkpoint rebuilt as %v, want %v", l.EpochEntries(), mustDecodeEpochs(t, epochs))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A damaged epoch checkpoint is rebuilt too.
	damaged = maps.Clone(files)
	damaged[epochCheckpointFile] = append(bytes.Clone(epochs[:len(epochs)-1]), epochs[len(epochs)-1]^1)
	dir = writeDir(t, damaged)
	l = checkPrefix(t, dir, cfg, batches)
	if got := l.EpochEntries(); !slices.Equal(got, mustDecodeEpochs(t, epochs)) {
		t.Fatalf("epochs %v", got)
	}
}

func mustDecodeEpochs(t testing.TB, b []byte) []EpochEntry {
	t.Helper()
	e, err := decodeEpochs(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheckpointCodecs(t *testing.T) {
	c := logCheckpoint{logStartOffset: 5, recoveryPoint: 9, clean: true}
	got, err := decodeLogCheckpoint(c.encode())
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	b := c.encode()
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		if _, err := decodeLogCheckpoint(bad); err == nil {
			t.Fatalf("flip at %d accepted", i)
		}
	}
	e := []EpochEntry{{0, 0}, {3, 10}, {4, 10}}
	ge, err := decodeEpochs(encodeEpochs(e))
	if err != nil || !slices.Equal(ge, e) {
		t.Fatalf("%v %v", ge, err)
	}
	if _, err := decodeEpochs(encodeEpochs([]EpochEntry{{3, 0}, {2, 5}})); err == nil {
		t.Fatal("non-monotonic epochs accepted")
	}
	if ge, err := decodeEpochs(encodeEpochs(nil)); err != nil || len(ge) != 0 {
		t.Fatal(ge, err)
	}
}

func TestOpenCanceled(t *testing.T) {
	files, _ := crashedLog(t, 20, smallConfig())
	dir := writeDir(t, files)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, dir, smallConfig(), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open: %v", err)
	}
	sameFiles(t, dir, files)
	checkPrefix(t, dir, smallConfig(), readAllFiles(t, files))
}

// readAllFiles returns the batches of a log directory's content.
func readAllFiles(t testing.TB, files map[string][]byte) [][]byte {
	t.Helper()
	l := openLog(t, writeDir(t, files), smallConfig(), Options{})
	return readAll(t, l)
}
