package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ackedRecord is where the broker said it stored one record.
type ackedRecord struct {
	partition int32
	offset    int64
	value     string
}

// ackLog collects acknowledged records from producer promises.
type ackLog struct {
	mu    sync.Mutex
	recs  []ackedRecord
	n     atomic.Int64
	errs  atomic.Int64
	reach int64         // close full when n reaches reach
	full  chan struct{} // closed once n >= reach
	once  sync.Once
}

func newAckLog(reach int64) *ackLog { return &ackLog{reach: reach, full: make(chan struct{})} }

func (a *ackLog) promise(wg *sync.WaitGroup) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		defer wg.Done()
		if err != nil {
			a.errs.Add(1)
			return
		}
		a.mu.Lock()
		a.recs = append(a.recs, ackedRecord{r.Partition, r.Offset, string(r.Value)})
		a.mu.Unlock()
		if a.n.Add(1) >= a.reach {
			a.once.Do(func() { close(a.full) })
		}
	}
}

func (a *ackLog) records() []ackedRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ackedRecord(nil), a.recs...)
}

// loadProducer produces value-unique records round-robin over partitions
// until stop closes. Every Produce call is counted in inflight until its
// promise runs.
func loadProducer(ctx context.Context, cl *kgo.Client, topic, prefix string, partitions int32,
	acks *ackLog, stop <-chan struct{}, inflight *sync.WaitGroup) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		inflight.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i) % partitions,
			Value: fmt.Appendf(nil, "%s-%07d", prefix, i)}, acks.promise(inflight))
	}
}

// waitGroupWithin waits for wg or fails the test after d.
func waitGroupWithin(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not done within %v", what, d)
	}
}

// TestKillDuringLoad: the broker process is SIGKILLed (flush policy none,
// the default) while an idempotent acks=all producer and an acks=1 producer
// write to several partitions. Restarted on the same data dir and ports,
// the broker still has every acknowledged record at its acknowledged offset
// with its value, offsets are dense and no record is stored twice. The
// idempotent producer that was cut off retries its unacknowledged batches
// against the restarted broker and gets each written exactly once (the
// producer state was rebuilt from the log); re-sending the last stored batch
// by hand is answered with its original offset, a sequence gap with
// OUT_OF_ORDER_SEQUENCE_NUMBER; and a new producer appends after the
// recovered log end.
func TestKillDuringLoad(t *testing.T) {
	const (
		parts     = 4
		topicAll  = "durable-acks-all"
		topicOne  = "durable-acks-one"
		killAfter = 1500 // acknowledgements per producer before the kill
	)
	dir := t.TempDir()
	addrs := fixedAddrs{kafka: freePort(t), http: freePort(t), meta: freePort(t)}
	p := startChronikAt(t, dir, addrs)
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admCl)
	for _, topic := range []string{topicAll, topicOne} {
		resp, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		if err != nil || resp.Err != nil {
			t.Fatalf("CreateTopic %s: %v / %v", topic, err, resp.Err)
		}
	}
	admCl.Close()

	// The idempotent producer keeps retrying across the restart (the broker
	// comes back on the same address); the acks=1 producer is closed at the
	// kill, failing what it still holds.
	common := []kgo.Opt{kgo.SeedBrokers(p.kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}
	prodAll, err := kgo.NewClient(append(common, kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prodAll.Close()
	prodOne, err := kgo.NewClient(append(common, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())...)
	if err != nil {
		t.Fatal(err)
	}
	defer prodOne.Close()

	acksAll, acksOne := newAckLog(killAfter), newAckLog(killAfter)
	stop := make(chan struct{})
	var loops, inflightAll, inflightOne sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		loadProducer(ctx, prodAll, topicAll, "all", parts, acksAll, stop, &inflightAll)
	}()
	go func() {
		defer loops.Done()
		loadProducer(ctx, prodOne, topicOne, "one", parts, acksOne, stop, &inflightOne)
	}()
	stopped := false
	stopLoops := func() {
		if !stopped {
			stopped = true
			close(stop)
			loops.Wait()
		}
	}
	defer stopLoops()
	for _, a := range []*ackLog{acksAll, acksOne} {
		select {
		case <-a.full:
		case <-ctx.Done():
			t.Fatalf("only %d and %d records acknowledged before the deadline", acksAll.n.Load(), acksOne.n.Load())
		}
	}

	// Mid-load: both producers still have records buffered and in flight.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err == nil {
		t.Fatal("chronik exited cleanly after SIGKILL")
	} else {
		p.done <- err // for the cleanup
	}
	stopLoops()
	beforeAll := acksAll.n.Load()
	prodOne.Close()
	waitGroupWithin(t, &inflightOne, 20*time.Second, "acks=1 promises after Close")
	t.Logf("killed: %d idempotent acknowledgements seen, %d acks=1 (%d failed)", beforeAll, acksOne.n.Load(), acksOne.errs.Load())

	// Restart on the same data dir and addresses.
	p2 := startChronikAt(t, dir, addrs)
	p2.waitReady(t)

	// The cut-off idempotent producer finishes its retries on the new
	// process: nothing it holds may fail.
	if err := prodAll.Flush(ctx); err != nil {
		t.Fatalf("flushing the idempotent producer after the restart: %v", err)
	}
	waitGroupWithin(t, &inflightAll, 20*time.Second, "idempotent promises")
	if n := acksAll.errs.Load(); n != 0 {
		t.Fatalf("%d idempotent records failed across the restart", n)
	}
	t.Logf("idempotent producer: %d acknowledged in all, %d after the restart", acksAll.n.Load(), acksAll.n.Load()-beforeAll)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	for _, tc := range []struct {
		topic string
		acked []ackedRecord
	}{{topicAll, acksAll.records()}, {topicOne, acksOne.records()}} {
		ends, err := adm.ListEndOffsets(ctx, tc.topic)
		if err != nil || ends.Error() != nil {
			t.Fatalf("ListEndOffsets %s: %v / %v", tc.topic, err, ends.Error())
		}
		end := map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
		stored := readPartitions(ctx, t, p2.kafka, tc.topic, end)
		checkAcked(t, tc.topic, tc.acked, stored, end)
	}

	// A retry of the last stored idempotent batch gets its original offset;
	// a batch skipping a sequence number is refused.
	checkIdempotentRetry(ctx, t, cl, topicAll, 0)

	// A new idempotent producer appends after the recovered log end.
	ends, err := adm.ListEndOffsets(ctx, topicAll)
	if err != nil || ends.Error() != nil {
		t.Fatalf("ListEndOffsets: %v / %v", err, ends.Error())
	}
	prodNew, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prodNew.Close()
	for part := range int32(parts) {
		before, _ := ends.Lookup(topicAll, part)
		for i := range 3 {
			r := prodNew.ProduceSync(ctx, &kgo.Record{Topic: topicAll, Partition: part, Value: fmt.Appendf(nil, "new-%d", i)})
			rec, err := r.First()
			if err != nil {
				t.Fatalf("produce after restart to partition %d: %v", part, err)
			}
			if want := before.Offset + int64(i); rec.Offset != want {
				t.Fatalf("partition %d: new record at offset %d, want %d (log end was %d)", part, rec.Offset, want, before.Offset)
			}
		}
	}

	// /metrics tells the same log end offsets.
	m := scrapeChronik(t, p2.http)
	for part := range int32(parts) {
		before, _ := ends.Lookup(topicAll, part)
		key := fmt.Sprintf(`chronik_log_end_offset{partition="%d",topic="%s"}`, part, topicAll)
		if got, want := m[key], float64(before.Offset+3); got != want {
			t.Fatalf("%s = %v, want %v", key, got, want)
		}
	}
	p2.stop(t)
}

// fixedAddrs are the addresses a broker keeps across a restart.
type fixedAddrs struct{ kafka, http, meta string }

// startChronikAt is startChronik on the given addresses (the flags given
// last win over startChronik's random ones).
func startChronikAt(t *testing.T, dir string, a fixedAddrs) *chronikProc {
	t.Helper()
	p := startChronik(t, dir, "--listen", a.kafka, "--http", a.http, "--metadata.address", a.meta)
	p.kafka, p.http = a.kafka, a.http
	return p
}

// readPartitions reads every partition of topic from offset 0 up to its end
// offset and returns the records by partition.
func readPartitions(ctx context.Context, t *testing.T, addr, topic string, end map[int32]int64) map[int32][]*kgo.Record {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	want := 0
	for part, e := range end {
		offsets[part] = kgo.NewOffset().At(0)
		want += int(e)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	out := map[int32][]*kgo.Record{}
	got := 0
	for got < want {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records before the deadline", topic, got, want)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end[r.Partition] {
				out[r.Partition] = append(out[r.Partition], r)
				got++
			}
		})
	}
	return out
}

// checkAcked checks that stored has every acknowledged record at its offset
// with its value, dense offsets from 0 to the end, and no value twice.
func checkAcked(t *testing.T, topic string, acked []ackedRecord, stored map[int32][]*kgo.Record, end map[int32]int64) {
	t.Helper()
	seen := map[string]int64{}
	for part, recs := range stored {
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("%s/%d: record %d has offset %d: offsets are not dense", topic, part, i, r.Offset)
			}
			if prev, dup := seen[string(r.Value)]; dup {
				t.Fatalf("%s/%d: value %q stored twice (offsets %d and %d)", topic, part, r.Value, prev, r.Offset)
			}
			seen[string(r.Value)] = r.Offset
		}
		if int64(len(recs)) != end[part] {
			t.Fatalf("%s/%d: read %d records, log end offset %d", topic, part, len(recs), end[part])
		}
	}
	last := map[int32]int64{}
	for _, a := range acked {
		recs := stored[a.partition]
		if a.offset >= int64(len(recs)) {
			t.Fatalf("%s/%d: acknowledged offset %d (%q) is beyond the log end %d", topic, a.partition, a.offset, a.value, end[a.partition])
		}
		if got := string(recs[a.offset].Value); got != a.value {
			t.Fatalf("%s/%d offset %d: value %q, acknowledged %q", topic, a.partition, a.offset, got, a.value)
		}
		last[a.partition] = max(last[a.partition], a.offset)
	}
	for part, off := range last {
		if end[part] < off+1 {
			t.Fatalf("%s/%d: log end offset %d, last acknowledged offset %d", topic, part, end[part], off)
		}
	}
	t.Logf("%s: %d acknowledged records all found; %d stored in %d partitions", topic, len(acked), len(seen), len(stored))
}

// checkIdempotentRetry re-sends the last stored batch of topic/part as the
// producer sent it (a retry after a lost acknowledgement): the broker must answer
// with the batch's original base offset and append nothing. The same batch
// with its first sequence moved one past the next expected one must get
// OUT_OF_ORDER_SEQUENCE_NUMBER.
func checkIdempotentRetry(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, part int32) {
	t.Helper()
	batches := fetchRawBatches(ctx, t, cl, topic, part)
	if len(batches) == 0 {
		t.Fatalf("%s/%d: no batches", topic, part)
	}
	var last kmsg.RecordBatch
	if err := last.ReadFrom(batches[len(batches)-1]); err != nil {
		t.Fatal(err)
	}
	if last.ProducerID < 0 {
		t.Fatalf("%s/%d: last batch has no producer id", topic, part)
	}
	endBefore := last.FirstOffset + int64(last.LastOffsetDelta) + 1
	id := topicID(ctx, t, cl, topic)

	produce := func(batch []byte) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, id // kgo picks the version: name or id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = part
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("raw produce: %v", err)
		}
		return resp.Topics[0].Partitions[0]
	}

	// As the producer sent it: base offset 0 (Kafka refuses any other from
	// a client) and no partition leader epoch; the CRC covers neither.
	sent := last
	sent.FirstOffset, sent.PartitionLeaderEpoch = 0, -1
	got := produce(sent.AppendTo(nil))
	if got.ErrorCode != 0 || got.BaseOffset != last.FirstOffset {
		t.Fatalf("%s/%d: retry of the last batch (producer %d epoch %d seq %d, stored at %d) answered error %v base offset %d; want its original offset",
			topic, part, last.ProducerID, last.ProducerEpoch, last.FirstSequence, last.FirstOffset, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}

	gap := sent
	gap.FirstSequence += last.LastOffsetDelta + 2 // one past the next expected sequence
	b := gap.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	got = produce(b)
	if got.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("%s/%d: batch with a sequence gap answered %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", topic, part, kerr.ErrorForCode(got.ErrorCode))
	}
	if after := fetchRawBatches(ctx, t, cl, topic, part); len(after) != len(batches) {
		t.Fatalf("%s/%d: %d batches after the retry and the gap, %d before (log end was %d)", topic, part, len(after), len(batches), endBefore)
	}
}

// topicID looks topic's id up.
func topicID(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	meta, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	td, ok := meta.Topics[topic]
	if !ok || td.Err != nil {
		t.Fatalf("metadata %s: %v", topic, td.Err)
	}
	return td.ID
}

// fetchRawBatches returns the stored record batches of topic/part, each as
// its raw bytes.
func fetchRawBatches(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, part int32) [][]byte {
	t.Helper()
	id := topicID(ctx, t, cl, topic)
	var out [][]byte
	offset := int64(0)
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxBytes = 64 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id // kgo picks the version: name or id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = part
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 16 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("raw fetch: %v", err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("raw fetch %s/%d at %d: %v", topic, part, offset, kerr.ErrorForCode(p.ErrorCode))
		}
		recs := p.RecordBatches
		n := 0
		for len(recs) >= 12 {
			size := 12 + int(int32(binary.BigEndian.Uint32(recs[8:12])))
			if size > len(recs) {
				break // partial batch at the end of the response
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(recs[:size]); err != nil {
				t.Fatalf("raw fetch %s/%d: batch: %v", topic, part, err)
			}
			out = append(out, recs[:size])
			offset = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			recs = recs[size:]
			n++
		}
		if offset >= p.HighWatermark || n == 0 {
			return out
		}
	}
}

// scrapeChronik GETs addr's /metrics and returns each sample's value by its
// series as printed ("name" or `name{label="value",...}`).
func scrapeChronik(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// childPIDs returns the pids of pid's child processes (Linux).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestMetricsBackendHealth: the real binary's /metrics shows its Raft
// metadata plugin up with a leader, the broker registered and ready; when
// the plugin process is SIGKILLed the broker restarts it, and
// chronik_metadata_plugin_restarts_total counts it while the backend comes
// back up.
func TestMetricsBackendHealth(t *testing.T) {
	p := startChronik(t, t.TempDir())
	p.waitReady(t)
	m := scrapeChronik(t, p.http)
	for k, v := range map[string]float64{
		"chronik_metadata_backend_up":            1,
		"chronik_metadata_backend_leader_known":  1,
		"chronik_metadata_backend_members":       1,
		"chronik_metadata_plugin_restarts_total": 0,
		"chronik_metadata_registered":            1,
		"chronik_broker_ready":                   1,
		"chronik_metadata_live_brokers":          1,
		"chronik_partitions":                     0,
	} {
		if g, ok := m[k]; !ok || g != v {
			t.Fatalf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if m["chronik_metadata_image_revision"] <= 0 {
		t.Fatalf("image revision %v", m["chronik_metadata_image_revision"])
	}

	kids := childPIDs(t, p.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("chronik has %d child processes (%v), want its one metadata plugin", len(kids), kids)
	}
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m = scrapeChronik(t, p.http)
		if m["chronik_metadata_plugin_restarts_total"] == 1 && m["chronik_metadata_backend_up"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 30s of killing the plugin: restarts %v, up %v",
				m["chronik_metadata_plugin_restarts_total"], m["chronik_metadata_backend_up"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.waitReady(t)
	p.stop(t)
}
