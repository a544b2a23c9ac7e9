package commitlog

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"sync"
	"testing"
)

// recoverTemplate is built once per process: a crashed log and a cleanly
// closed copy of the same data.
var recoverTemplate struct {
	once    sync.Once
	crashed map[string][]byte
	clean   map[string][]byte
	batches [][]byte
	cfg     Config
}

func loadRecoverTemplate(t testing.TB) {
	recoverTemplate.once.Do(func() {
		cfg := smallConfig()
		cfg.SegmentBytes = 2048
		cfg.IndexIntervalBytes = 200
		crashed, batches := crashedLog(t, 24, cfg)
		dir := t.TempDir()
		l, err := Open(t.Context(), dir, cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if _, err := l.AppendReplicated(bytes.Clone(b)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		recoverTemplate.crashed = crashed
		recoverTemplate.clean = snapshotDir(t, dir)
		recoverTemplate.batches = batches
		recoverTemplate.cfg = cfg
	})
}

// FuzzRecover damages the tail of the last segment — appending bytes,
// overwriting from a position, or cutting and appending — and opens the
// log. Open never panics; it either keeps every batch that was wholly before
// the damage (and whatever it keeps after is valid and contiguous, and the
// log takes appends), or refuses with ErrCorruptLog and leaves every file as
// it was.
func FuzzRecover(f *testing.F) {
	loadRecoverTemplate(f)
	last := recoverTemplate.batches[len(recoverTemplate.batches)-1]
	f.Add([]byte{}, uint16(0), uint8(0), false)
	f.Add(make([]byte, 100), uint16(5), uint8(1), false)
	f.Add(bytes.Clone(last), uint16(0), uint8(0), true)
	f.Add(bytes.Clone(last[:HeaderSize+3]), uint16(40), uint8(2), false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, uint16(300), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, at uint16, mode uint8, clean bool) {
		loadRecoverTemplate(t)
		files := recoverTemplate.crashed
		if clean {
			files = recoverTemplate.clean
		}
		cfg := recoverTemplate.cfg
		name := lastSegmentName(files)
		seg := files[name]
		damaged := maps.Clone(files)
		var p int // the damage starts here
		switch mode % 3 {
		case 0: // append
			p = len(seg)
			damaged[name] = append(bytes.Clone(seg), data...)
		case 1: // overwrite from p
			p = int(at) % (len(seg) + 1)
			b := append(bytes.Clone(seg[:p]), data...)
			if len(b) < len(seg) {
				b = append(b, seg[len(b):]...)
			}
			damaged[name] = b
		case 2: // cut at p, then append
			p = int(at) % (len(seg) + 1)
			damaged[name] = append(bytes.Clone(seg[:p]), data...)
		}
		base, _, _ := parseSegmentName(name)
		// Batches wholly before the damage must survive.
		var keep [][]byte
		for _, b := range recoverTemplate.batches {
			h, _ := ParseHeader(b)
			if h.BaseOffset < base {
				keep = append(keep, b)
			}
		}
		for pos := 0; pos < len(seg); {
			h, _ := ParseHeader(seg[pos:])
			if pos+h.Size() > p {
				break
			}
			keep = append(keep, seg[pos:pos+h.Size()])
			pos += h.Size()
		}

		dir := writeDir(t, damaged)
		l, err := Open(t.Context(), dir, cfg, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorruptLog) {
				t.Fatalf("Open: %v", err)
			}
			sameFiles(t, dir, damaged)
			return
		}
		defer l.Close()
		// Read batch by batch from the start: the kept prefix is intact.
		off := int64(0)
		for i, want := range keep {
			res, err := l.Read(nil, off, 1, math.MaxInt64)
			if err != nil {
				t.Fatalf("batch %d at %d: %v", i, off, err)
			}
			if !bytes.Equal(res.Data, want) {
				t.Fatalf("batch %d at %d lost or changed after damage at byte %d", i, off, p)
			}
			off = res.NextOffset
		}
		if !clean {
			// A full scan ran: everything kept is valid and contiguous.
			readAll(t, l)
		}
		epoch, _ := l.LatestEpoch()
		if _, err := l.Append(simpleBatch(t, 1, 3, 1), AppendOptions{LeaderEpoch: max(epoch, 0)}); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}
