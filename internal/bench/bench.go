package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNothingToConsume is returned by Consume when the topic holds no
// records between its start and end offsets and no bound was given.
var ErrNothingToConsume = errors.New("bench: nothing to consume")

// Report is the outcome of one run. Rates are over Seconds, the time from
// the first record sent (or fetched) to the last one acknowledged (or
// received).
type Report struct {
	// Mode is produce, consume or e2e.
	Mode string `json:"mode"`
	// Broker settings of the run, echoed for the record.
	Topic       string  `json:"topic"`
	Partitions  int32   `json:"partitions"`
	RecordSize  int     `json:"record_size"`
	Acks        string  `json:"acks,omitempty"`
	Idempotent  bool    `json:"idempotent,omitempty"`
	Compression string  `json:"compression,omitempty"`
	LingerMs    float64 `json:"linger_ms,omitempty"`
	Rate        int     `json:"rate,omitempty"`
	// Records and Bytes moved (acknowledged, or received). Bytes counts
	// record keys and values.
	Records int64   `json:"records"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// RecordsPerSec and MiBPerSec are Records and Bytes over Seconds.
	RecordsPerSec float64 `json:"records_per_sec"`
	MiBPerSec     float64 `json:"mib_per_sec"`
	// Latency is the acknowledgement latency (produce) or the
	// produce-to-consume latency (e2e); nil for consume.
	Latency *Latency `json:"latency_ms,omitempty"`
	// Errors counts records that failed (produce), and in e2e also
	// records acknowledged but never received; FirstError describes one.
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Memory is the watched process's resident memory, if one was
	// watched (Config.WatchPID).
	Memory *Memory `json:"broker_memory,omitempty"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p99_9"`
	Max     float64 `json:"max"`
}

func newReport(mode string, c Config) Report {
	r := Report{Mode: mode, Topic: c.Topic, Partitions: c.Partitions, RecordSize: c.RecordSize}
	if mode != "consume" {
		r.Acks, r.Idempotent, r.Compression = c.Acks, c.Idempotent, c.Compression
		r.LingerMs = float64(c.Linger) / float64(time.Millisecond)
		r.Rate = c.Rate
	}
	return r
}

func (r *Report) finish(records, bytes int64, elapsed time.Duration) {
	r.Records, r.Bytes = records, bytes
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(records) / r.Seconds
		r.MiBPerSec = float64(bytes) / (1 << 20) / r.Seconds
	}
}

// errCounter counts failures and keeps the first one.
type errCounter struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (e *errCounter) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err.Error() })
}

func (e *errCounter) fill(r *Report) {
	r.Errors = e.n.Load()
	if r.Errors > 0 {
		e.once.Do(func() {})
		r.FirstError = e.first
	}
}

// EnsureTopic creates c.Topic with c.Partitions partitions of
// c.ReplicationFactor replicas unless it
// exists, and waits until the client sees a leader for every partition.
// It is idempotent; ctx bounds the wait.
func EnsureTopic(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return fmt.Errorf("bench: client: %w", err)
	}
	defer cl.Close()
	return ensureTopic(ctx, kadm.NewClient(cl), c)
}

func ensureTopic(ctx context.Context, adm *kadm.Client, c Config) error {
	rf := c.ReplicationFactor
	if rf == 0 {
		rf = -1 // the broker's default
	}
	resp, err := adm.CreateTopic(ctx, c.Partitions, rf, nil, c.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("bench: creating topic %q: %w", c.Topic, err)
	}
	if err == nil && resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("bench: creating topic %q: %w", c.Topic, resp.Err)
	}
	for {
		md, err := adm.Metadata(ctx, c.Topic)
		if err == nil {
			if t, ok := md.Topics[c.Topic]; ok && t.Err == nil && len(t.Partitions) > 0 {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Err == nil && p.Leader >= 0
				}
				if ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for topic %q: %w (last metadata error: %v)", c.Topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runCtx bounds ctx by c.Duration (if set).
func runCtx(ctx context.Context, c Config) (context.Context, context.CancelFunc) {
	if c.Duration > 0 {
		return context.WithTimeout(ctx, c.Duration)
	}
	return context.WithCancel(ctx)
}

// pacer spaces sends at rate per second; rate 0 never waits.
type pacer struct {
	start    time.Time
	interval time.Duration
	n        int64
}

func newPacer(rate int) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.interval = time.Second / time.Duration(rate)
	}
	return p
}

// wait blocks until the next send is due or ctx ends (false).
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval == 0 {
		return ctx.Err() == nil
	}
	due := p.start.Add(time.Duration(p.n) * p.interval)
	p.n++
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Produce sends records of c.RecordSize bytes to c.Topic until c.Duration
// or c.Records is reached (c.Rate caps the pace), waits for every
// acknowledgement and reports throughput and acknowledgement latency (from
// the Produce call to its promise, so it includes lingering and client
// buffering, like kafka-producer-perf-test). Failed records are counted in
// Report.Errors, not returned; the error is for setup failures and ctx.
func Produce(ctx context.Context, c Config) (Report, error) {
	if err := c.Validate(); err != nil {
		return Report{}, err
	}
	if c.Duration == 0 && c.Records == 0 {
		return Report{}, fmt.Errorf("%w: produce needs a duration or a record count", ErrConfig)
	}
	opts, err := c.producerOpts()
	if err != nil {
		return Report{}, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Report{}, fmt.Errorf("bench: client: %w", err)
	}
	defer cl.Close()
	if err := ensureTopic(ctx, kadm.NewClient(cl), c); err != nil {
		return Report{}, err
	}
	mem := startMemWatch(c.WatchPID)

	value := make([]byte, c.RecordSize)
	_, _ = rand.Read(value) // incompressible, like random payloads of the perf tools
	var (
		hist  Histogram
		errs  errCounter
		acked atomic.Int64
		bytes atomic.Int64
		last  atomic.Int64 // unix nanos of the last acknowledgement
	)
	runCtx, cancel := runCtx(ctx, c)
	defer cancel()
	pace := newPacer(c.Rate)
	start := time.Now()
	for n := int64(0); c.Records == 0 || n < c.Records; n++ {
		if !pace.wait(runCtx) {
			break
		}
		sent := time.Now()
		// Records share the value; the client never modifies it.
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			now := time.Now()
			if err != nil {
				errs.add(err)
				return
			}
			hist.Record(now.Sub(sent))
			acked.Add(1)
			bytes.Add(int64(len(r.Key) + len(r.Value)))
			last.Store(now.UnixNano())
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return Report{}, fmt.Errorf("bench: flushing: %w", err)
	}
	r := newReport("produce", c)
	end := time.Unix(0, last.Load())
	if last.Load() == 0 {
		end = time.Now()
	}
	r.finish(acked.Load(), bytes.Load(), end.Sub(start))
	r.Latency = hist.Latency()
	errs.fill(&r)
	r.Memory = mem.stop()
	return r, nil
}

// consumeIdle ends a Consume that receives nothing for this long.
const consumeIdle = 5 * time.Second

// Consume reads c.Topic from its start offsets, without a group, until it
// reaches the end offsets the topic had when the run began, or c.Records
// records, or c.Duration, whichever comes first (or 5 s pass without a
// record), and reports throughput.
// It returns ErrNothingToConsume if the topic is empty. Fetch errors are
// counted in Report.Errors.
func Consume(ctx context.Context, c Config) (Report, error) {
	if err := c.Validate(); err != nil {
		return Report{}, err
	}
	admCl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return Report{}, fmt.Errorf("bench: client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if err := ensureTopic(ctx, adm, c); err != nil {
		return Report{}, err
	}
	starts, err := listOffsets(ctx, "start", adm.ListStartOffsets, c.Topic)
	if err != nil {
		return Report{}, err
	}
	ends, err := listOffsets(ctx, "end", adm.ListEndOffsets, c.Topic)
	if err != nil {
		return Report{}, err
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	var available int64
	starts.Each(func(o kadm.ListedOffset) {
		e, _ := ends.Lookup(o.Topic, o.Partition)
		if e.Offset > o.Offset {
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
			until[o.Partition] = e.Offset
			available += e.Offset - o.Offset
		}
	})
	if available == 0 {
		return Report{}, fmt.Errorf("%w: topic %q is empty", ErrNothingToConsume, c.Topic)
	}
	want := available
	if c.Records > 0 {
		want = min(want, c.Records)
	}
	opts := append(c.clientOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: from}))
	if c.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(c.FetchMaxBytes))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Report{}, fmt.Errorf("bench: client: %w", err)
	}
	defer cl.Close()
	mem := startMemWatch(c.WatchPID)

	runCtx, cancel := runCtx(ctx, c)
	defer cancel()
	var (
		errs         errCounter
		records, nby int64
		done         = map[int32]bool{}
	)
	start := time.Now()
	end := start
	for records < want && len(done) < len(until) {
		// A partition whose last offsets hold no records for us (control
		// batches, compacted away) never reports its end offset: stop
		// after consumeIdle without records.
		pollCtx, cancelPoll := context.WithTimeout(runCtx, consumeIdle)
		fs := cl.PollFetches(pollCtx)
		idle := pollCtx.Err() != nil
		cancelPoll()
		if runCtx.Err() != nil || (idle && fs.NumRecords() == 0) {
			break
		}
		fs.EachError(func(_ string, _ int32, err error) { errs.add(err) })
		fs.EachRecord(func(r *kgo.Record) {
			records++
			nby += int64(len(r.Key) + len(r.Value))
			if r.Offset+1 >= until[r.Partition] {
				done[r.Partition] = true
			}
		})
		end = time.Now()
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r := newReport("consume", c)
	r.finish(records, nby, end.Sub(start))
	errs.fill(&r)
	r.Memory = mem.stop()
	return r, nil
}

// E2E produces c.Rate records per second for c.Duration (or c.Records
// records), each carrying its send time in its first 8 bytes, consumes
// them with a second client and reports the produce-to-consume latency.
// Records acknowledged but not received within 10 s of the end count as
// errors.
func E2E(ctx context.Context, c Config) (Report, error) {
	if err := c.Validate(); err != nil {
		return Report{}, err
	}
	if c.Rate <= 0 {
		return Report{}, fmt.Errorf("%w: e2e needs a rate", ErrConfig)
	}
	if c.RecordSize < 8 {
		return Report{}, fmt.Errorf("%w: e2e needs records of at least 8 bytes", ErrConfig)
	}
	if c.Duration == 0 && c.Records == 0 {
		return Report{}, fmt.Errorf("%w: e2e needs a duration or a record count", ErrConfig)
	}
	opts, err := c.producerOpts()
	if err != nil {
		return Report{}, err
	}
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		return Report{}, fmt.Errorf("bench: client: %w", err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if err := ensureTopic(ctx, adm, c); err != nil {
		return Report{}, err
	}
	ends, err := listOffsets(ctx, "end", adm.ListEndOffsets, c.Topic)
	if err != nil {
		return Report{}, err
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition] = kgo.NewOffset().At(o.Offset) })
	copts := append(c.clientOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: from}),
		kgo.FetchMaxWait(time.Second))
	cons, err := kgo.NewClient(copts...)
	if err != nil {
		return Report{}, fmt.Errorf("bench: client: %w", err)
	}
	defer cons.Close()

	// The consumer loop: samples the latency of every measured record.
	// A record whose first byte of the stamp area is marked warm-up is
	// only counted as seen.
	var (
		hist     Histogram
		received atomic.Int64
		rbytes   atomic.Int64
		warm     = make(chan struct{})
		warmOnce sync.Once
		consErrs errCounter
	)
	consCtx, stopCons := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopCons(); wg.Wait() }()
	wg.Go(func() {
		for consCtx.Err() == nil {
			fs := cons.PollFetches(consCtx)
			now := time.Now()
			fs.EachError(func(_ string, _ int32, err error) {
				if consCtx.Err() == nil {
					consErrs.add(err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				stamp := int64(binary.BigEndian.Uint64(r.Value))
				if stamp == 0 { // warm-up record
					warmOnce.Do(func() { close(warm) })
					return
				}
				hist.Record(now.Sub(time.Unix(0, stamp)))
				received.Add(1)
				rbytes.Add(int64(len(r.Key) + len(r.Value)))
			})
		}
	})

	// Warm-up: one unmeasured record through both clients, so connection
	// and metadata setup are not in the latencies.
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: make([]byte, c.RecordSize)}).FirstErr(); err != nil {
		return Report{}, fmt.Errorf("bench: warm-up produce: %w", err)
	}
	select {
	case <-warm:
	case <-ctx.Done():
		return Report{}, ctx.Err()
	case <-time.After(30 * time.Second):
		return Report{}, fmt.Errorf("bench: warm-up record not consumed within 30s")
	}

	mem := startMemWatch(c.WatchPID)
	filler := make([]byte, c.RecordSize)
	_, _ = rand.Read(filler)
	var (
		prodErrs errCounter
		acked    atomic.Int64
	)
	runCtx, cancel := runCtx(ctx, c)
	defer cancel()
	pace := newPacer(c.Rate)
	start := time.Now()
	for n := int64(0); c.Records == 0 || n < c.Records; n++ {
		if !pace.wait(runCtx) {
			break
		}
		v := make([]byte, c.RecordSize)
		copy(v[8:], filler[8:])
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		prod.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				prodErrs.add(err)
				return
			}
			acked.Add(1)
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return Report{}, fmt.Errorf("bench: flushing: %w", err)
	}
	// Wait for the consumer to see every acknowledged record.
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < acked.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	elapsed := time.Since(start)
	stopCons()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r := newReport("e2e", c)
	r.finish(received.Load(), rbytes.Load(), elapsed)
	r.Latency = hist.Latency()
	prodErrs.fill(&r)
	if missing := acked.Load() - received.Load(); missing > 0 {
		r.Errors += missing
		if r.FirstError == "" {
			r.FirstError = fmt.Sprintf("%d acknowledged records not consumed", missing)
		}
	}
	if n := consErrs.n.Load(); n > 0 {
		r.Errors += n
		if r.FirstError == "" {
			consErrs.fill(&Report{})
			r.FirstError = consErrs.first
		}
	}
	r.Memory = mem.stop()
	return r, nil
}

// listOffsets lists the start or end offsets (which, for the error) of
// topic with list, failing on any partition's error.
func listOffsets(ctx context.Context, which string, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (kadm.ListedOffsets, error) {
	offs, err := list(ctx, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: listing %s offsets: %w", which, err)
	}
	return offs, nil
}
