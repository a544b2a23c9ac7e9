package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/chronik-go/chronik/core/commitlog"
)

// Idempotent producer state, as Kafka's ProducerStateManager keeps it for a
// partition: per producer id the epoch and the sequence ranges of its last
// five batches with their offsets.
//
// Checks on a produced batch (Kafka 2.5+ up to 4.x, KIP-360), in order:
//
//  1. Same epoch and the exact sequence range of one of the last five
//     batches: a retry of an appended batch. It is acknowledged with its
//     original offsets and not appended again (modern Kafka answers
//     success, not DUPLICATE_SEQUENCE_NUMBER).
//  2. An epoch older than the producer's: INVALID_PRODUCER_EPOCH.
//  3. A newer epoch: the sequence must restart at 0, else
//     OUT_OF_ORDER_SEQUENCE_NUMBER.
//  4. The same epoch: the first sequence must follow the last batch's last
//     sequence (wrapping after MaxInt32 to 0), else
//     OUT_OF_ORDER_SEQUENCE_NUMBER.
//  5. An unknown producer id (never seen, expired, or its batches gone
//     with retention): any sequence is accepted. Kafka has not answered
//     UNKNOWN_PRODUCER_ID for this since 2.5 (KIP-360).

// noProducerEpoch is the epoch of a producer entry that has seen no batch.
const noProducerEpoch int16 = -1

// batchesToRetain is how many batches per producer are remembered for
// duplicate detection (Kafka's NUM_BATCHES_TO_RETAIN, which is also the
// most in-flight requests an idempotent producer may have).
const batchesToRetain = 5

// batchMeta is what is remembered of an appended batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	// timestamp is the batch's max timestamp as stored: the append time
	// with LogAppendTime.
	timestamp int64
}

// producerEntry is the state of one producer id. mu is held across the
// check, the append and the update of one batch, so that batches of one
// producer are checked against each other in order while different
// producers append concurrently.
type producerEntry struct {
	mu sync.Mutex
	// gone marks an entry removed from the map (under mu and the map's
	// mutex): whoever locked it must look it up again.
	gone    bool
	epoch   int16
	batches [batchesToRetain]batchMeta // ring; head is the oldest
	head, n int
}

// last returns the latest batch; n must be > 0.
func (e *producerEntry) last() batchMeta {
	return e.batches[(e.head+e.n-1)%batchesToRetain]
}

// duplicate returns the remembered batch with this epoch and sequence
// range, if any.
func (e *producerEntry) duplicate(epoch int16, first, last int32) (batchMeta, bool) {
	if e.n == 0 || epoch != e.epoch {
		return batchMeta{}, false
	}
	for i := range e.n {
		b := e.batches[(e.head+i)%batchesToRetain]
		if b.firstSeq == first && b.lastSeq == last {
			return b, true
		}
	}
	return batchMeta{}, false
}

// check applies checks 2-5 (see above) to a batch that is not a duplicate.
func (e *producerEntry) check(id int64, epoch int16, first int32) error {
	if e.epoch == noProducerEpoch || e.n == 0 {
		return nil
	}
	if epoch < e.epoch {
		return fmt.Errorf("%w: producer %d sent epoch %d, the partition has epoch %d", ErrInvalidProducerEpoch, id, epoch, e.epoch)
	}
	if epoch > e.epoch {
		if first != 0 {
			return fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, want 0", ErrOutOfOrderSequence, id, epoch, first)
		}
		return nil
	}
	if last := e.last().lastSeq; !inSequence(last, first) {
		return fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d", ErrOutOfOrderSequence, id, epoch, first, last)
	}
	return nil
}

// record remembers an appended batch.
func (e *producerEntry) record(epoch int16, b batchMeta) {
	if epoch != e.epoch {
		e.epoch, e.head, e.n = epoch, 0, 0
	}
	if e.n == batchesToRetain {
		e.head = (e.head + 1) % batchesToRetain
		e.n--
	}
	e.batches[(e.head+e.n)%batchesToRetain] = b
	e.n++
}

// lastSequence is the sequence of a batch's last record: first + delta,
// wrapping after MaxInt32 to 0 as Kafka's sequences do.
func lastSequence(first, delta int32) int32 {
	if first > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - first) - 1
	}
	return first + delta
}

// inSequence reports whether next follows last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// producers is a partition's producer state.
type producers struct {
	mu sync.Mutex // guards m; taken before an entry's mu, never after
	m  map[int64]*producerEntry
}

func newProducers() *producers { return &producers{m: map[int64]*producerEntry{}} }

// lock returns the entry of producer id, created if needed, locked.
func (ps *producers) lock(id int64) *producerEntry {
	for {
		ps.mu.Lock()
		e := ps.m[id]
		if e == nil {
			e = &producerEntry{epoch: noProducerEpoch}
			ps.m[id] = e
		}
		ps.mu.Unlock()
		e.mu.Lock()
		if !e.gone {
			return e
		}
		e.mu.Unlock()
	}
}

// count returns the number of producers with state.
func (ps *producers) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.m)
}

// evict removes every entry for which drop returns true, and entries that
// never recorded a batch. Entries locked by an append in progress are
// skipped (they are in use). It returns how many were removed.
func (ps *producers) evict(drop func(e *producerEntry) bool) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	removed := 0
	for id, e := range ps.m {
		if !e.mu.TryLock() {
			continue
		}
		if e.n == 0 || drop(e) {
			e.gone = true
			delete(ps.m, id)
			removed++
		}
		e.mu.Unlock()
	}
	return removed
}

// apply records a batch read back from the log (rebuild; exclusive use).
func (ps *producers) apply(h *commitlog.Header) {
	if !h.HasProducerID() || h.Control() {
		return
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: noProducerEpoch}
		ps.m[h.ProducerID] = e
	}
	e.record(h.ProducerEpoch, batchMeta{
		firstSeq:    h.BaseSequence,
		lastSeq:     lastSequence(h.BaseSequence, h.LastOffsetDelta),
		firstOffset: h.BaseOffset,
		lastOffset:  h.LastOffset(),
		timestamp:   h.MaxTimestamp,
	})
}

// rebuild replays the batch headers of l from offset from into ps
// (exclusive use).
func (ps *producers) rebuild(l *commitlog.Log, from int64) error {
	return l.ScanHeaders(from, func(h commitlog.Header) bool {
		ps.apply(&h)
		return true
	})
}

// Producer state snapshot (producer-state.snapshot); see doc.go.
const (
	snapMagic     = "CPPS"
	snapVersion   = 1
	snapHeader    = 20
	snapBatchSize = 32
)

// encodeSnapshot encodes the state as of log end offset end (exclusive
// use).
func (ps *producers) encodeSnapshot(end int64) []byte {
	b := make([]byte, snapHeader, snapHeader+len(ps.m)*(11+batchesToRetain*snapBatchSize)+4)
	copy(b, snapMagic)
	binary.BigEndian.PutUint16(b[4:], snapVersion)
	binary.BigEndian.PutUint64(b[8:], uint64(end))
	n := 0
	for id, e := range ps.m {
		if e.n == 0 {
			continue
		}
		n++
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(e.n))
		for i := range e.n {
			m := e.batches[(e.head+i)%batchesToRetain]
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[16:], uint32(n))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// errBadSnapshot reports a snapshot that does not decode.
var errBadSnapshot = errors.New("partition: producer state snapshot is damaged")

// decodeSnapshot decodes a snapshot into a fresh state and returns the log
// end offset it describes.
func decodeSnapshot(b []byte) (*producers, int64, error) {
	if len(b) < snapHeader+4 || string(b[:4]) != snapMagic || binary.BigEndian.Uint16(b[4:]) != snapVersion {
		return nil, 0, errBadSnapshot
	}
	body := b[:len(b)-4]
	if binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.Checksum(body, castagnoli) {
		return nil, 0, errBadSnapshot
	}
	end := int64(binary.BigEndian.Uint64(b[8:]))
	n := int(binary.BigEndian.Uint32(b[16:]))
	ps := newProducers()
	p := body[snapHeader:]
	for range n {
		if len(p) < 11 {
			return nil, 0, errBadSnapshot
		}
		id := int64(binary.BigEndian.Uint64(p))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(p[8:]))}
		k := int(p[10])
		p = p[11:]
		if k < 1 || k > batchesToRetain || len(p) < k*snapBatchSize {
			return nil, 0, errBadSnapshot
		}
		for range k {
			e.record(e.epoch, batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(p)),
				lastSeq:     int32(binary.BigEndian.Uint32(p[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(p[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(p[16:])),
				timestamp:   int64(binary.BigEndian.Uint64(p[24:])),
			})
			p = p[snapBatchSize:]
		}
		ps.m[id] = e
	}
	if len(p) != 0 {
		return nil, 0, errBadSnapshot
	}
	return ps, end, nil
}

// loadProducers restores the producer state of log l in dir: from the
// snapshot a clean shutdown left (then the batches after it), or from every
// batch header of the log. The snapshot is removed once read, so that it can
// never describe a log that later changed (a truncation); Close writes a
// new one. It reports whether a snapshot was used.
func loadProducers(dir string, l *commitlog.Log) (*producers, bool, error) {
	path := filepath.Join(dir, snapshotFile)
	b, err := os.ReadFile(path)
	var ps *producers
	from := l.LogStartOffset()
	used := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false, fmt.Errorf("partition: reading %s: %w", snapshotFile, err)
	default:
		snap, end, derr := decodeSnapshot(b)
		if derr == nil && end <= l.LogEndOffset() && end >= l.LogStartOffset() {
			ps, from, used = snap, end, true
		}
		if rerr := os.Remove(path); rerr != nil {
			return nil, false, fmt.Errorf("partition: removing %s: %w", snapshotFile, rerr)
		}
	}
	if ps == nil {
		ps = newProducers()
	}
	if err := ps.rebuild(l, from); err != nil {
		return nil, false, fmt.Errorf("partition: rebuilding producer state: %w", err)
	}
	lso := l.LogStartOffset()
	ps.evict(func(e *producerEntry) bool { return e.last().lastOffset < lso })
	return ps, used, nil
}
