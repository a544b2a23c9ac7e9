package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Log is the log of one partition: a directory of segments.
//
// Concurrency: one writer at a time, any number of readers.
//
//   - Writers (Append, AppendReplicated, Truncate, Reset,
//     DeleteRecordsBefore, EnforceRetention, SetConfig, Sync, Close) take
//     the writer lock mu for their whole duration, so they are serialized.
//   - Compact reads closed segments without the writer lock and takes it
//     only to plan and to swap each rewritten segment in; passes are
//     serialized by compactMu.
//   - Readers (Read, ScanHeaders, OffsetForTimestamp, MaxTimestamp,
//     EndOffsetForEpoch, the offset getters, Changed) never take mu. They
//     load an immutable snapshot of the segment list, take a reference on
//     the segment they read (so its files stay open even if retention
//     deletes it meanwhile) and never read past the segment's committed
//     size, which the writer publishes only after the bytes are written:
//     a reader never sees a half-written batch.
//
// Lock order: compactMu (Compact), then mu, then a segment index's mu,
// then epochCache.mu; mu before ckptMu and before cleanMu; the read
// position cache's mutex and passMu are leaves. Readers take only
// index and epoch read locks and the cache mutex, one at a time.
//
// A Log owns one background goroutine (fsync of rolled segments and the
// interval flush), stopped by Close.
type Log struct {
	dir    string
	logger *slog.Logger
	now    func() time.Time
	unlock func() error

	mu          sync.Mutex // the writer lock
	cfg         Config
	active      *segment
	failed      error
	pendingSync []*segment // rolled segments not yet fsynced

	segs        atomic.Pointer[[]*segment] // sorted by base offset; last is active
	startOffset atomic.Int64
	endOffset   atomic.Int64
	closed      atomic.Bool
	waitCh      atomic.Pointer[chan struct{}]
	epochs      epochCache
	cache       posCache

	ckptMu        sync.Mutex
	recoveryPoint int64 // under ckptMu

	// Compaction (compact.go). compactMu serializes passes and is taken
	// before everything else; passMu guards closing and passCancel (a
	// leaf); cleanMu guards the cleaner state and its file and is taken
	// after mu.
	compactMu     sync.Mutex
	passMu        sync.Mutex
	closing       bool
	passCancel    context.CancelFunc
	cleanMu       sync.Mutex
	cleaner       cleanerCheckpoint
	cleanerOnDisk bool              // cleaner.checkpoint exists
	cleanerGen    uint64            // bumped by Truncate and Reset
	compactHook   func(step string) // tests: called at each step of a pass

	wake      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset returns the first offset that may be read. Safe for
// concurrent use.
func (l *Log) LogStartOffset() int64 { return l.startOffset.Load() }

// LogEndOffset returns the offset the next appended record will get. Safe
// for concurrent use; it moves only after the bytes are readable.
func (l *Log) LogEndOffset() int64 { return l.endOffset.Load() }

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// SetConfig validates and installs a new configuration. It takes effect at
// once: roll decisions at the next append, retention at the next
// EnforceRetention, the flush policy and interval immediately.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	l.cfg = cfg
	l.kick()
	return nil
}

// Size returns the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range *l.segs.Load() {
		n += s.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int { return len(*l.segs.Load()) }

// Changed returns a channel that is closed at the next change of the log
// end offset (append, truncate, reset) or at Close. To wait for data past
// offset without missing a wakeup, take the channel first, then check:
//
//	ch := l.Changed()
//	if l.LogEndOffset() > offset { ... read ... }
//	select { case <-ch: case <-ctx.Done(): }
//
// It allocates only when nobody is waiting yet; any number of goroutines
// may wait on the same channel.
func (l *Log) Changed() <-chan struct{} {
	for {
		if p := l.waitCh.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if l.waitCh.CompareAndSwap(nil, &ch) {
			if l.closed.Load() {
				l.notifyClosed()
			}
			return ch
		}
	}
}

// notify wakes everyone waiting on Changed.
func (l *Log) notify() {
	if p := l.waitCh.Swap(nil); p != nil {
		close(*p)
	}
}

// notifyClosed wakes everyone and leaves a closed channel for later
// Changed calls.
func (l *Log) notifyClosed() {
	c := make(chan struct{})
	close(c)
	if p := l.waitCh.Swap(&c); p != nil && *p != c {
		select {
		case <-*p:
		default:
			close(*p)
		}
	}
}

// kick wakes the background goroutine (writer only).
func (l *Log) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// writable returns why the log cannot be written, if it cannot (writer only).
func (l *Log) writable() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: %w", ErrLogFailed, l.failed)
	}
	return nil
}

// AppendOptions are the broker-side settings of an Append.
type AppendOptions struct {
	// LeaderEpoch is written into every batch and recorded in the leader
	// epoch checkpoint when it starts a new epoch. It must be >= 0 and
	// not below the latest epoch in the log.
	LeaderEpoch int32
	// LogAppendTime (message.timestamp.type=LogAppendTime) stamps every
	// batch with the append time as its max timestamp and sets the
	// timestamp type bit; otherwise a client-set bit is cleared.
	LogAppendTime bool
}

// AppendResult describes a successful append.
type AppendResult struct {
	// BaseOffset and LastOffset are the offsets of the first and last
	// record appended.
	BaseOffset int64
	LastOffset int64
	// LogAppendTime is the timestamp given to the batches with
	// LogAppendTime, -1 otherwise (Kafka's produce response field).
	LogAppendTime int64
	// LogStartOffset is the log start offset after the append.
	LogStartOffset int64
}

// frame walks concatenated batches checking what Append relies on: whole
// batches with valid headers (ParseHeader, CheckHeader).
func frame(batches []byte) error { return frameWith(batches, (*Header).CheckHeader) }

// frameWith is frame with a header check of the caller's choice.
func frameWith(batches []byte, check func(*Header) error) error {
	if len(batches) == 0 {
		return fmt.Errorf("%w: no record batch", ErrCorruptBatch)
	}
	for n, pos := 0, 0; pos < len(batches); n++ {
		h, err := ParseHeader(batches[pos:])
		if err != nil {
			return fmt.Errorf("batch %d: %w", n, err)
		}
		if h.Size() > len(batches)-pos {
			return fmt.Errorf("%w: batch %d needs %d bytes, %d left", ErrCorruptBatch, n, h.Size(), len(batches)-pos)
		}
		if err := check(&h); err != nil {
			return fmt.Errorf("batch %d: %w", n, err)
		}
		pos += h.Size()
	}
	return nil
}

// Append assigns offsets to one or more concatenated batches and appends
// them, rewriting in place (in the caller's buffer) each batch's base
// offset and partition leader epoch and, per opts, its timestamp type and
// max timestamp (with the CRC recomputed). Batches are otherwise stored
// verbatim, in one write, all in the same segment.
//
// Append checks only framing (whole batches, sane headers; ErrCorruptBatch
// or ErrInvalidRecord): the caller validates content first (Validator),
// which is where producer state checks belong too. When Append returns, the
// bytes are in the OS (FlushNone), or on disk (FlushAlways); readers and
// Changed see them. On an error nothing was appended; after an I/O error
// that could not be rolled back every later write fails with ErrLogFailed.
func (l *Log) Append(batches []byte, opts AppendOptions) (AppendResult, error) {
	if err := frame(batches); err != nil {
		return AppendResult{}, err
	}
	res, ticket, err := l.append(batches, opts)
	if err != nil {
		return AppendResult{}, err
	}
	return res, l.finishSync(ticket)
}

// syncTicket is a write that must be made durable before its append
// returns (FlushAlways): the segment (referenced) and the size to sync.
type syncTicket struct {
	seg *segment
	end int64
}

// finishSync makes a ticket's write durable outside the writer lock, so
// that concurrent appends share fsyncs.
func (l *Log) finishSync(t syncTicket) error {
	if t.seg == nil {
		return nil
	}
	defer t.seg.release()
	if err := t.seg.syncTo(t.end); err != nil {
		l.mu.Lock()
		if l.failed == nil {
			l.failed = err
		}
		l.mu.Unlock()
		l.logger.Error("commitlog: log failed", "dir", l.dir, "err", err)
		return err
	}
	return nil
}

// append is Append under the writer lock.
func (l *Log) append(batches []byte, opts AppendOptions) (AppendResult, syncTicket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, syncTicket{}, err
	}
	if opts.LeaderEpoch < 0 {
		return AppendResult{}, syncTicket{}, fmt.Errorf("%w: %d", ErrInvalidEpoch, opts.LeaderEpoch)
	}
	if latest, ok := l.epochs.latest(); ok && opts.LeaderEpoch < latest {
		return AppendResult{}, syncTicket{}, fmt.Errorf("%w: epoch %d is older than the latest epoch %d", ErrInvalidEpoch, opts.LeaderEpoch, latest)
	}
	now := l.now()
	base := l.endOffset.Load()
	appendTime := int64(-1)
	if opts.LogAppendTime {
		appendTime = now.UnixMilli()
	}
	next := base
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		size := LogOverhead + int(batchLength(b))
		b = b[:size]
		SetBaseOffset(b, next)
		SetPartitionLeaderEpoch(b, opts.LeaderEpoch)
		if opts.LogAppendTime {
			SetLogAppendTime(b, appendTime)
		} else {
			ClearLogAppendTime(b)
		}
		next += int64(binaryLastOffsetDelta(b)) + 1
		pos += size
	}
	if err := l.epochs.assign(opts.LeaderEpoch, base); err != nil {
		return AppendResult{}, syncTicket{}, err
	}
	ticket, err := l.write(batches, next, now)
	if err != nil {
		return AppendResult{}, syncTicket{}, err
	}
	return AppendResult{BaseOffset: base, LastOffset: next - 1, LogAppendTime: appendTime, LogStartOffset: l.startOffset.Load()}, ticket, nil
}

// AppendReplicated appends batches that already carry their offsets and
// leader epochs (a follower copying its leader): base offsets must
// increase from the log end offset on (ErrOffsetMismatch for one below the
// offset the previous batch ends at); a gap is valid, as is a record count
// below last offset delta + 1, since a compacted leader sends both (the
// gap is recorded in cleaner.checkpoint first, so that Open accepts it);
// CRCs are checked (ErrCorruptBatch); each batch's leader epoch is
// recorded in the epoch checkpoint when it starts a new epoch (an epoch
// below the latest is ErrInvalidEpoch). The bytes are stored unmodified.
func (l *Log) AppendReplicated(batches []byte) (AppendResult, error) {
	if err := frameWith(batches, checkStoredHeader); err != nil {
		return AppendResult{}, err
	}
	res, ticket, err := l.appendReplicated(batches)
	if err != nil {
		return AppendResult{}, err
	}
	return res, l.finishSync(ticket)
}

// appendReplicated is AppendReplicated under the writer lock.
func (l *Log) appendReplicated(batches []byte) (AppendResult, syncTicket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, syncTicket{}, err
	}
	base := l.endOffset.Load()
	next := base
	gaps := false
	latest, hasLatest := l.epochs.latest()
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		size := LogOverhead + int(batchLength(b))
		b = b[:size]
		bo := batchBaseOffset(b)
		if bo < next {
			return AppendResult{}, syncTicket{}, fmt.Errorf("%w: batch at offset %d, expected %d or above", ErrOffsetMismatch, bo, next)
		}
		if bo > next {
			gaps = true
		}
		next = bo
		if !CRCValid(b) {
			return AppendResult{}, syncTicket{}, fmt.Errorf("%w: CRC mismatch in batch at offset %d", ErrCorruptBatch, next)
		}
		epoch := binaryLeaderEpoch(b)
		if epoch < 0 || (hasLatest && epoch < latest) {
			return AppendResult{}, syncTicket{}, fmt.Errorf("%w: batch at offset %d has epoch %d (latest %d)", ErrInvalidEpoch, next, epoch, latest)
		}
		latest, hasLatest = epoch, true
		next += int64(binaryLastOffsetDelta(b)) + 1
		pos += size
	}
	if gaps {
		if err := l.allowGapsBelow(next); err != nil {
			return AppendResult{}, syncTicket{}, err
		}
	}
	// Record epoch starts only once every batch passed.
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		if err := l.epochs.assign(binaryLeaderEpoch(b), batchBaseOffset(b)); err != nil {
			return AppendResult{}, syncTicket{}, err
		}
		pos += LogOverhead + int(batchLength(b))
	}
	ticket, err := l.write(batches, next, l.now())
	if err != nil {
		return AppendResult{}, syncTicket{}, err
	}
	return AppendResult{BaseOffset: batchBaseOffset(batches), LastOffset: next - 1, LogAppendTime: -1, LogStartOffset: l.startOffset.Load()}, ticket, nil
}

// write appends prepared batches ending before offset next (writer only).
// With FlushAlways it returns the ticket the caller must sync after
// releasing the writer lock.
func (l *Log) write(batches []byte, next int64, now time.Time) (syncTicket, error) {
	maxTs := int64(-1)
	for p := 0; p < len(batches); p += LogOverhead + int(batchLength(batches[p:])) {
		maxTs = max(maxTs, binaryMaxTimestamp(batches[p:]))
	}
	if err := l.maybeRoll(int64(len(batches)), next-1, maxTs, now); err != nil {
		return syncTicket{}, err
	}
	a := l.active
	pos := a.size.Load()
	if _, err := a.log.WriteAt(batches, pos); err != nil {
		if terr := a.log.Truncate(pos); terr != nil {
			l.failed = fmt.Errorf("write failed (%w) and could not be undone (%w)", err, terr)
			l.logger.Error("commitlog: log failed", "dir", l.dir, "err", l.failed)
		}
		return syncTicket{}, fmt.Errorf("commitlog: appending to segment %d: %w", a.base, err)
	}
	interval := l.cfg.IndexIntervalBytes
	for p := 0; p < len(batches); {
		b := batches[p:]
		size := LogOverhead + int(batchLength(b))
		if err := a.noteBatch(batchBaseOffset(b), binaryMaxTimestamp(b), pos+int64(p), size, interval); err != nil {
			// The data is written; only an index write failed. The
			// index is rebuilt at the next open; stop writing now.
			l.failed = err
			l.logger.Error("commitlog: log failed", "dir", l.dir, "err", err)
			return syncTicket{}, err
		}
		p += size
	}
	end := pos + int64(len(batches))
	a.lastWrite.Store(now.UnixMilli())
	a.next.Store(next)
	a.size.Store(end)
	a.publishMax()
	l.endOffset.Store(next)
	l.notify()
	if l.cfg.Flush == FlushAlways {
		a.acquire()
		return syncTicket{seg: a, end: end}, nil
	}
	return syncTicket{}, nil
}

// maybeRoll rolls the active segment if an append of size bytes ending at
// lastOffset, with max timestamp maxTs, must not go into it (writer only).
func (l *Log) maybeRoll(size, lastOffset, maxTs int64, now time.Time) error {
	a := l.active
	cur := a.size.Load()
	if cur == 0 {
		if size > math.MaxInt32 {
			return fmt.Errorf("%w: %d bytes in one append", ErrBatchTooLarge, size)
		}
		return nil
	}
	roll := cur+size > l.cfg.SegmentBytes || cur+size > math.MaxInt32 ||
		lastOffset-a.base > math.MaxInt32 ||
		(l.cfg.SegmentMs > 0 && a.timeWaitedForRoll(now.UnixMilli(), maxTs) > l.cfg.SegmentMs.Milliseconds())
	if !roll {
		return nil
	}
	return l.roll(now)
}

// roll seals the active segment and starts a new one at the log end
// offset; the old one is fsynced in the background (writer only).
func (l *Log) roll(now time.Time) error {
	old := l.active
	if err := old.seal(); err != nil {
		return err
	}
	seg, err := openSegment(l.dir, l.endOffset.Load(), true)
	if err != nil {
		return err
	}
	seg.createdMs = now.UnixMilli()
	if err := seg.offIdx.activate(); err != nil {
		return err
	}
	if err := seg.timeIdx.activate(); err != nil {
		return err
	}
	segs := append(slices.Clone(*l.segs.Load()), seg)
	l.segs.Store(&segs)
	l.active = seg
	l.pendingSync = append(l.pendingSync, old)
	l.kick()
	return nil
}

// run is the background goroutine: it fsyncs rolled segments (advancing the
// recovery point) and, with FlushInterval, the active segment.
func (l *Log) run() {
	defer l.wg.Done()
	var ticker *time.Ticker
	var tick <-chan time.Time
	var interval time.Duration
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		l.mu.Lock()
		want := time.Duration(0)
		if l.cfg.Flush == FlushInterval {
			want = l.cfg.FlushInterval
		}
		l.mu.Unlock()
		if want != interval {
			if ticker != nil {
				ticker.Stop()
				ticker, tick = nil, nil
			}
			if want > 0 {
				ticker = time.NewTicker(want)
				tick = ticker.C
			}
			interval = want
		}
		select {
		case <-l.stop:
			return
		case <-l.wake:
			l.syncRolled()
		case <-tick:
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Error("commitlog: interval flush failed", "dir", l.dir, "err", err)
			}
		}
	}
}

// syncRolled fsyncs segments rolled since the last call and moves the
// recovery point past them.
func (l *Log) syncRolled() {
	l.mu.Lock()
	pend := l.pendingSync
	l.pendingSync = nil
	for _, s := range pend {
		s.acquire()
	}
	l.mu.Unlock()
	if len(pend) == 0 {
		return
	}
	var failed error
	for _, s := range pend {
		if failed == nil && !s.deleted.Load() {
			failed = s.sync()
		}
		s.release()
	}
	l.mu.Lock()
	if failed != nil {
		l.failed = failed
		l.mu.Unlock()
		l.logger.Error("commitlog: log failed", "dir", l.dir, "err", failed)
		return
	}
	rp := l.active.base
	if len(l.pendingSync) > 0 {
		rp = l.pendingSync[0].base
	}
	l.mu.Unlock()
	if err := l.setRecoveryPoint(rp, false); err != nil {
		l.logger.Warn("commitlog: writing checkpoint failed", "dir", l.dir, "err", err)
	}
}

// setRecoveryPoint records a new recovery point (only ever lowered when
// lower is set, only raised otherwise) and writes the checkpoint.
func (l *Log) setRecoveryPoint(rp int64, lower bool) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if (lower && rp < l.recoveryPoint) || (!lower && rp > l.recoveryPoint) {
		l.recoveryPoint = rp
	}
	return l.writeCheckpointLocked(false)
}

// writeCheckpointLocked writes commitlog.checkpoint (ckptMu held).
func (l *Log) writeCheckpointLocked(clean bool) error {
	c := logCheckpoint{logStartOffset: l.startOffset.Load(), recoveryPoint: l.recoveryPoint, clean: clean}
	return writeFileAtomic(l.dir, checkpointFile, c.encode())
}

// Sync forces everything appended so far to stable storage, whatever the
// flush policy. The fsync itself runs without the writer lock.
func (l *Log) Sync() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	a := l.active
	err := a.offIdx.flush()
	if err == nil {
		err = a.timeIdx.flush()
	}
	a.acquire()
	l.mu.Unlock()
	defer a.release()
	if err != nil {
		return err
	}
	return a.sync()
}

// Close flushes indexes, fsyncs what is not yet on disk, records a clean
// shutdown (so the next Open checks only segment tails), closes the files
// and stops the background goroutine. Readers holding a segment finish
// first; later calls return ErrClosed. Close is idempotent; it returns the
// first error.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		// A running compaction pass is cancelled and waited for.
		l.passMu.Lock()
		l.closing = true
		if l.passCancel != nil {
			l.passCancel()
		}
		l.passMu.Unlock()
		l.compactMu.Lock()
		//nolint:staticcheck // empty critical section: waits for the pass
		l.compactMu.Unlock()
		close(l.stop)
		l.wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed.Store(true)
		defer l.notifyClosed()
		err := l.failed
		a := l.active
		if err == nil {
			err = a.offIdx.flush()
		}
		if err == nil {
			err = a.timeIdx.flush()
		}
		for _, s := range append(l.pendingSync, a) {
			if err == nil && !s.deleted.Load() {
				err = s.sync()
			}
		}
		l.pendingSync = nil
		if err == nil {
			l.ckptMu.Lock()
			l.recoveryPoint = a.base
			err = l.writeCheckpointLocked(true)
			l.ckptMu.Unlock()
		}
		for _, s := range *l.segs.Load() {
			s.release()
		}
		if uerr := l.unlock(); err == nil {
			err = uerr
		}
		l.closeErr = err
	})
	if l.closeErr != nil {
		return l.closeErr
	}
	return nil
}

// segmentFor returns the segment of snapshot segs that holds offset: the
// last one whose base offset is <= offset, or nil.
func segmentFor(segs []*segment, offset int64) (int, *segment) {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		return -1, nil
	}
	return i, segs[i]
}

// posCache remembers where recent reads ended, so that a consumer reading
// on from where it stopped skips the index lookup.
type posCache struct {
	mu sync.Mutex
	e  [16]posEntry
	i  int
}

type posEntry struct {
	seg    *segment
	gen    uint64
	offset int64
	pos    int64
}

func (c *posCache) get(s *segment, gen uint64, offset int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.e {
		if e.seg == s && e.gen == gen && e.offset == offset {
			return e.pos
		}
	}
	return -1
}

func (c *posCache) put(s *segment, gen uint64, offset, pos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.e {
		if e.seg == s && e.offset == offset {
			c.e[i] = posEntry{s, gen, offset, pos}
			return
		}
	}
	c.e[c.i] = posEntry{s, gen, offset, pos}
	c.i = (c.i + 1) % len(c.e)
}

func (c *posCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.e = [16]posEntry{}
}

// ReadResult is the outcome of a Read.
type ReadResult struct {
	// Data is the dst passed to Read with the batches appended.
	Data []byte
	// NextOffset is the offset after the last batch returned; with no
	// batch returned, the offset asked for.
	NextOffset int64
}

// maxReadAttempts bounds the retries of a read racing with the writer.
const maxReadAttempts = 100

// Read appends to dst whole batches, verbatim as stored, starting with the
// batch that contains offset (which may start before it), all from one
// segment. It stops before a batch that would take the result past
// maxBytes, except that the first batch is always returned whole, like
// Kafka; and before the first batch whose last offset is >= maxOffset (the
// high watermark; use math.MaxInt64 for no bound), even the first.
//
// offset == LogEndOffset, or >= maxOffset, returns no data; offset below
// LogStartOffset or above LogEndOffset is ErrOffsetOutOfRange. Read is safe
// for concurrent use with everything; it never blocks on the writer.
// Reading costs one pread per call (plus an index lookup unless the read
// continues where an earlier one stopped).
func (l *Log) Read(dst []byte, offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	for range maxReadAttempts {
		if l.closed.Load() {
			return ReadResult{Data: dst, NextOffset: offset}, ErrClosed
		}
		lso, leo := l.startOffset.Load(), l.endOffset.Load()
		if offset < lso || offset > leo {
			return ReadResult{Data: dst, NextOffset: offset}, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, lso, leo)
		}
		if offset == leo || offset >= maxOffset {
			return ReadResult{Data: dst, NextOffset: offset}, nil
		}
		_, seg := segmentFor(*l.segs.Load(), offset)
		if seg == nil || !seg.acquire() {
			continue
		}
		res, err := l.readSegment(seg, dst, offset, maxBytes, maxOffset)
		seg.release()
		if errors.Is(err, errStale) {
			runtime.Gosched()
			continue
		}
		return res, err
	}
	return ReadResult{Data: dst, NextOffset: offset}, fmt.Errorf("commitlog: read at offset %d kept racing with truncation", offset)
}

// readSegment is Read within one referenced segment.
func (l *Log) readSegment(s *segment, dst []byte, offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	empty := ReadResult{Data: dst, NextOffset: offset}
	gen := s.truncGen.Load()
	end := s.size.Load()
	pos, h, found, err := s.locate(offset, end, l.cache.get(s, gen, offset))
	if err != nil {
		return empty, err
	}
	if !found {
		// The offset is not in this segment's committed bytes: the
		// log changed since the snapshot.
		return empty, errStale
	}
	if h.LastOffset() >= maxOffset {
		return empty, nil
	}
	want := min(max(int64(maxBytes), int64(h.Size())), end-pos)
	start := len(dst)
	dst = slices.Grow(dst, int(want))[:start+int(want)]
	if _, err := s.log.ReadAt(dst[start:], pos); err != nil {
		if s.truncGen.Load() != gen {
			return empty, errStale
		}
		return empty, fmt.Errorf("commitlog: reading segment %d at %d: %w", s.base, pos, err)
	}
	got := dst[start:]
	p, next := 0, offset
	for p+HeaderSize <= len(got) {
		b := got[p:]
		size := LogOverhead + int(batchLength(b))
		if size < HeaderSize {
			if s.truncGen.Load() != gen {
				return empty, errStale
			}
			return empty, fmt.Errorf("%w: segment %d holds a bad batch length at %d", ErrCorruptLog, s.base, pos+int64(p))
		}
		if p+size > len(got) {
			break
		}
		last := batchBaseOffset(b) + int64(binaryLastOffsetDelta(b))
		if last >= maxOffset {
			break
		}
		next = last + 1
		p += size
	}
	if s.truncGen.Load() != gen {
		return empty, errStale
	}
	if p > 0 {
		l.cache.put(s, gen, next, pos+int64(p))
	}
	return ReadResult{Data: dst[:start+p], NextOffset: next}, nil
}

// ScanHeaders calls fn with the header of every batch whose last offset is
// >= from, in offset order, until fn returns false or the log end offset
// seen at the call is reached. It reads only headers (one pread each); use
// it to rebuild state such as producer sequences after a restart. Safe for
// concurrent use; batches appended during the scan may or may not be seen.
func (l *Log) ScanHeaders(from int64, fn func(Header) bool) error {
	if l.closed.Load() {
		return ErrClosed
	}
	from = max(from, l.startOffset.Load())
	segs := *l.segs.Load()
	i, _ := segmentFor(segs, from)
	i = max(i, 0)
	var buf [HeaderSize]byte
	for ; i < len(segs); i++ {
		s := segs[i]
		if !s.acquire() {
			continue
		}
		end := s.size.Load()
		pos, _, found, err := s.locate(from, end, -1)
		if err != nil && !errors.Is(err, errStale) {
			s.release()
			return err
		}
		for found && pos+HeaderSize <= end {
			h, err := s.headerAt(pos, &buf)
			if err != nil {
				break // truncated meanwhile
			}
			if !fn(h) {
				s.release()
				return nil
			}
			pos += int64(h.Size())
		}
		s.release()
	}
	return nil
}

// LatestEpoch returns the latest leader epoch in the log, or ok=false if
// no epoch was recorded.
func (l *Log) LatestEpoch() (epoch int32, ok bool) { return l.epochs.latest() }

// EpochEntries returns a copy of the leader epoch checkpoint entries.
func (l *Log) EpochEntries() []EpochEntry { return l.epochs.snapshot() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch like Kafka: for the latest
// epoch, the log end offset; for an older one, the start offset of the next
// higher epoch, with the largest epoch <= the requested one; for one below
// every known epoch, the first known start offset with the requested epoch;
// (-1, -1) when there is no answer (no epochs, a negative epoch, or one
// above every known epoch). Safe for concurrent use.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.endOffset.Load())
}

// dirMode is the permission of a created log directory.
const dirMode os.FileMode = 0o755
