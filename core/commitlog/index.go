package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// Index files. Both are arrays of fixed-size big-endian entries, sparse
// (an entry per IndexIntervalBytes of batches), sorted, with offsets stored
// relative to the segment's base offset:
//
//	.index      offset  size  field
//	                 0     4  relative offset of a batch's base offset (uint32)
//	                 4     4  byte position of that batch in the .log (uint32)
//
//	.timeindex  offset  size  field
//	                 0     8  timestamp: the segment's max timestamp so far (int64)
//	                 8     4  relative offset of the first batch with that
//	                          max timestamp (uint32)
//
// Time index entries are written only when the max timestamp grew, so
// timestamps strictly increase; when a segment is sealed a last entry with
// the segment's max timestamp is added if needed. The active segment keeps
// its entries in memory as well (same encoding) and appends them to the
// files in groups; after a crash the missing tail of an index is rebuilt
// from the log.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
	// indexFlushEntries pending entries trigger a write of the index file.
	indexFlushEntries = 128
)

// index is one index file of a segment. The writer (holding the log's
// writer lock) appends, flushes, seals and truncates; readers search it
// under mu's read lock. For the active segment every entry is in mem; a
// sealed segment's entries are read from the file with pread.
type index struct {
	mu        sync.RWMutex
	path      string
	f         *os.File // nil while the file does not exist (see ensure)
	es        int      // entry size
	mem       []byte   // all entries while active, nil once sealed
	n         int      // number of entries
	persisted int      // entries written to f
	created   bool     // the file did not exist when opened
}

// openIndex opens an index file without reading it. A missing file is
// created with create, and otherwise only when first written (ensure), so
// that Open changes nothing on disk before it has decided to.
func openIndex(path string, es int, create bool) (*index, error) {
	x := &index{path: path, es: es}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		x.created = true
		if !create {
			return x, nil
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	x.f = f
	x.n = int(st.Size()) / es
	x.persisted = x.n
	return x, nil
}

// ensure creates the file if it does not exist yet (writer only).
func (x *index) ensure() error {
	if x.f != nil {
		return nil
	}
	f, err := os.OpenFile(x.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("commitlog: creating index: %w", err)
	}
	x.mu.Lock()
	x.f = f
	x.mu.Unlock()
	return nil
}

// fileValid reports whether the file size is a whole number of entries.
func (x *index) fileValid() (bool, error) {
	if x.f == nil {
		return true, nil
	}
	st, err := x.f.Stat()
	if err != nil {
		return false, err
	}
	return st.Size()%int64(x.es) == 0, nil
}

// readEntry returns entry i (i < n) into buf (len >= es). Callers hold
// mu (either mode) or are the writer.
func (x *index) readEntry(i int, buf []byte) ([]byte, error) {
	if x.mem != nil {
		return x.mem[i*x.es : (i+1)*x.es], nil
	}
	if _, err := x.f.ReadAt(buf[:x.es], int64(i)*int64(x.es)); err != nil {
		return nil, fmt.Errorf("commitlog: reading index %s entry %d: %w", x.path, i, err)
	}
	return buf[:x.es], nil
}

// search returns the number of leading entries for which below is true
// (below must be true for a prefix of the entries and false after it), so
// that entry search()-1 is the floor. It takes the read lock.
func (x *index) search(below func(e []byte) bool) (int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var buf [timeEntrySize]byte
	lo, hi := 0, x.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := x.readEntry(mid, buf[:])
		if err != nil {
			return 0, err
		}
		if below(e) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// entryAt returns a copy of entry i under the read lock, or ok=false if
// there is no such entry.
func (x *index) entryAt(i int) (e [timeEntrySize]byte, ok bool, err error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if i < 0 || i >= x.n {
		return e, false, nil
	}
	b, err := x.readEntry(i, e[:])
	if err != nil {
		return e, false, err
	}
	copy(e[:], b)
	return e, true, nil
}

// count returns the number of entries.
func (x *index) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// add appends an entry (writer only). The index must be active.
func (x *index) add(e []byte) error {
	x.mu.Lock()
	x.mem = append(x.mem, e...)
	x.n++
	pending := x.n - x.persisted
	x.mu.Unlock()
	if pending >= indexFlushEntries {
		return x.flush()
	}
	return nil
}

// flush writes entries not yet in the file (writer only).
func (x *index) flush() error {
	if x.mem == nil || x.persisted == x.n {
		return nil
	}
	if err := x.ensure(); err != nil {
		return err
	}
	if _, err := x.f.WriteAt(x.mem[x.persisted*x.es:x.n*x.es], int64(x.persisted)*int64(x.es)); err != nil {
		return fmt.Errorf("commitlog: writing index %s: %w", x.path, err)
	}
	x.persisted = x.n
	return nil
}

// seal flushes and drops the in-memory entries: lookups read the file from
// now on (writer only).
func (x *index) seal() error {
	if err := x.flush(); err != nil {
		return err
	}
	x.mu.Lock()
	x.mem = nil
	x.mu.Unlock()
	return nil
}

// activate loads the file's entries into memory (writer only), for a
// segment that becomes the active one.
func (x *index) activate() error {
	if x.mem != nil {
		return nil
	}
	mem := make([]byte, x.n*x.es, max(x.n*x.es, 1024))
	if x.n > 0 { // with no entries the file may not exist yet
		if _, err := x.f.ReadAt(mem, 0); err != nil {
			return fmt.Errorf("commitlog: loading index %s: %w", x.path, err)
		}
	}
	x.mu.Lock()
	x.mem = mem
	x.mu.Unlock()
	return nil
}

// truncate keeps the first n entries (writer only).
func (x *index) truncate(n int) error {
	if n >= x.n {
		return nil
	}
	x.mu.Lock()
	x.n = n
	if x.mem != nil {
		x.mem = x.mem[:n*x.es]
	}
	x.persisted = min(x.persisted, n)
	x.mu.Unlock()
	if err := x.ensure(); err != nil {
		return err
	}
	if err := x.f.Truncate(int64(x.persisted) * int64(x.es)); err != nil {
		return fmt.Errorf("commitlog: truncating index %s: %w", x.path, err)
	}
	return nil
}

// replace rewrites the whole index with the encoded entries (writer only,
// during recovery). With active the entries stay in memory too.
func (x *index) replace(entries []byte, active bool) error {
	if err := x.ensure(); err != nil {
		return err
	}
	if err := x.f.Truncate(0); err != nil {
		return fmt.Errorf("commitlog: rewriting index %s: %w", x.path, err)
	}
	if _, err := x.f.WriteAt(entries, 0); err != nil {
		return fmt.Errorf("commitlog: rewriting index %s: %w", x.path, err)
	}
	x.mu.Lock()
	x.n = len(entries) / x.es
	x.persisted = x.n
	x.mem = nil
	if active {
		x.mem = append(make([]byte, 0, max(len(entries), 1024)), entries...)
	}
	x.mu.Unlock()
	return nil
}

func (x *index) sync() error {
	if x.f == nil {
		return nil
	}
	return x.f.Sync()
}

func (x *index) close() error {
	if x.f == nil {
		return nil
	}
	return x.f.Close()
}

// Entry encoding.

func appendOffsetEntry(dst []byte, rel uint32, pos uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, rel)
	return binary.BigEndian.AppendUint32(dst, pos)
}

func decodeOffsetEntry(e []byte) (rel uint32, pos uint32) {
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func appendTimeEntry(dst []byte, ts int64, rel uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return binary.BigEndian.AppendUint32(dst, rel)
}

func decodeTimeEntry(e []byte) (ts int64, rel uint32) {
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}
