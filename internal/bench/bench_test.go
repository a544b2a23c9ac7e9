package bench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/plugins/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startChronik starts an in-process chronik broker on loopback ports over
// a memory metadata store and returns its Kafka address.
func startChronik(t *testing.T) string {
	t.Helper()
	scfg := memory.DefaultConfig()
	st, err := memory.NewStore(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.HTTPAddr = ""
	b, err := broker.New(cfg, st.Node("broker"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return b.Addr()
}

// startKfake runs the reference peer with its data in a temp dir.
func startKfake(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- RunKfake(ctx, KfakeConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()}, func(a string) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("RunKfake: %v", err)
		}
	})
	select {
	case a := <-addrc:
		return a
	case err := <-errc:
		errc <- err
		t.Fatalf("kfake did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("kfake did not start within 30s")
	}
	return ""
}

func testConfig(addr, topic string) Config {
	c := DefaultConfig()
	c.Brokers = []string{addr}
	c.Topic = topic
	c.Partitions = 3
	c.RecordSize = 100
	c.Duration = 0
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runAll produces n records, consumes them back and runs a short e2e, each
// against addr, and checks every report.
func runAll(t *testing.T, addr string) {
	ctx := testCtx(t)
	c := testConfig(addr, "bench-all")
	c.Records = 2000
	p, err := Produce(ctx, c)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if p.Records != 2000 || p.Bytes != 2000*100 || p.Errors != 0 || p.Latency == nil || p.Latency.Samples != 2000 || p.MiBPerSec <= 0 {
		t.Fatalf("produce report: %+v (latency %+v)", p, p.Latency)
	}
	if l := p.Latency; !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Max > 0) {
		t.Fatalf("percentiles out of order: %+v", l)
	}

	c.Records = 0
	r, err := Consume(ctx, c)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if r.Records != 2000 || r.Bytes != 2000*100 || r.Errors != 0 || r.Latency != nil {
		t.Fatalf("consume report: %+v", r)
	}
	c.Records = 500
	r, err = Consume(ctx, c)
	if err != nil || r.Records < 500 || r.Records > 2000 {
		t.Fatalf("Consume of 500: %+v, %v", r, err)
	}

	c.Records = 0
	c.Rate = 400
	c.Linger = 0
	c.Duration = 500 * time.Millisecond
	e, err := E2E(ctx, c)
	if err != nil {
		t.Fatalf("E2E: %v", err)
	}
	if e.Records < 50 || e.Errors != 0 || e.Latency == nil || e.Latency.Samples != uint64(e.Records) || e.Latency.Max <= 0 {
		t.Fatalf("e2e report: %+v (latency %+v)", e, e.Latency)
	}
	var b strings.Builder
	if err := e.WriteText(&b); err != nil || !strings.Contains(b.String(), "end-to-end latency ms: p50") {
		t.Fatalf("text report %q, %v", b.String(), err)
	}
}

func TestAgainstChronik(t *testing.T) {
	runAll(t, startChronik(t))
}

func TestAgainstKfake(t *testing.T) {
	runAll(t, startKfake(t))
}

// TestProduceOptions: every codec, acks 0/1 without idempotence, a rate,
// a duration bound, a batch size and memory watching of this process.
func TestProduceOptions(t *testing.T) {
	addr := startChronik(t)
	ctx := testCtx(t)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		c := testConfig(addr, "codec-"+codec)
		c.Compression = codec
		c.Records = 300
		c.BatchMaxBytes = 4096
		p, err := Produce(ctx, c)
		if err != nil || p.Records != 300 || p.Errors != 0 {
			t.Fatalf("%s: %+v, %v", codec, p, err)
		}
		r, err := Consume(ctx, c)
		if err != nil || r.Records != 300 || r.Bytes != 300*100 {
			t.Fatalf("%s consume: %+v, %v", codec, r, err)
		}
	}
	for _, acks := range []string{"0", "1"} {
		c := testConfig(addr, "acks-"+acks)
		c.Acks, c.Idempotent = acks, false
		c.Records = 200
		p, err := Produce(ctx, c)
		if err != nil || p.Records != 200 || p.Errors != 0 {
			t.Fatalf("acks=%s: %+v, %v", acks, p, err)
		}
	}
	c := testConfig(addr, "paced")
	c.Rate = 200
	c.Duration = 300 * time.Millisecond
	c.WatchPID = os.Getpid()
	p, err := Produce(ctx, c)
	if err != nil || p.Records < 5 || p.Records > 100 || p.Errors != 0 {
		t.Fatalf("paced produce: %+v, %v", p, err)
	}
	if m := p.Memory; m == nil || m.PID != os.Getpid() || m.Samples == 0 || m.PeakRSS <= 0 || m.HWM < m.PeakRSS-1 {
		t.Fatalf("memory: %+v", p.Memory)
	}
}

// TestReplicationFactor: the topic is created with the replication factor
// asked for; one the cluster cannot place is the broker's error.
func TestReplicationFactor(t *testing.T) {
	addr := startChronik(t)
	ctx := testCtx(t)
	c := testConfig(addr, "rf1")
	c.ReplicationFactor = 1
	if err := EnsureTopic(ctx, c); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, c.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics[c.Topic].Partitions {
		if len(p.Replicas) != 1 {
			t.Errorf("partition %d has replicas %v, want 1", p.Partition, p.Replicas)
		}
	}
	c = testConfig(addr, "rf3")
	c.ReplicationFactor = 3
	if err := EnsureTopic(ctx, c); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("EnsureTopic with replication factor 3 on one broker: %v, want INVALID_REPLICATION_FACTOR", err)
	}
}

func TestConsumeEmptyTopic(t *testing.T) {
	addr := startChronik(t)
	_, err := Consume(testCtx(t), testConfig(addr, "empty"))
	if !errors.Is(err, ErrNothingToConsume) {
		t.Fatalf("Consume of an empty topic: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Brokers = nil },
		func(c *Config) { c.Topic = "" },
		func(c *Config) { c.Partitions = 0 },
		func(c *Config) { c.Acks = "2" },
		func(c *Config) { c.Acks = "1" }, // idempotent needs all
		func(c *Config) { c.Compression = "brotli" },
		func(c *Config) { c.Linger = -1 },
		func(c *Config) { c.RecordSize = -1 },
		func(c *Config) { c.ReplicationFactor = -1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: Validate = %v", c, err)
		}
	}
	c := DefaultConfig()
	c.RecordSize = 4
	if _, err := E2E(context.Background(), c); !errors.Is(err, ErrConfig) {
		t.Errorf("E2E with 4-byte records: %v", err)
	}
	c = DefaultConfig()
	c.Duration = 0
	if _, err := Produce(context.Background(), c); !errors.Is(err, ErrConfig) {
		t.Errorf("Produce without bound: %v", err)
	}
}

// TestHistogram: every quantile is within the bucket resolution of the
// exact one, concurrent recording counts everything.
func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Latency() != nil || h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram reports something")
	}
	samples := make([]time.Duration, 0, 40000)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		r := rand.New(rand.NewPCG(uint64(g), 7))
		vals := make([]time.Duration, 10000)
		for i := range vals {
			vals[i] = time.Duration(math.Exp(r.Float64() * 20)) // 1ns .. ~0.5s, log-uniform
		}
		mu.Lock()
		samples = append(samples, vals...)
		mu.Unlock()
		wg.Go(func() {
			for _, v := range vals {
				h.Record(v)
			}
		})
	}
	wg.Wait()
	slices.Sort(samples)
	if h.Count() != uint64(len(samples)) {
		t.Fatalf("count %d, want %d", h.Count(), len(samples))
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*1.032+1 {
			t.Errorf("q%v = %v, exact %v", q, got, exact)
		}
	}
	if h.Quantile(1) != samples[len(samples)-1] {
		t.Errorf("max %v, want %v", h.Quantile(1), samples[len(samples)-1])
	}
	for i := range numBuckets {
		if bucketOf(bucketHigh(i)) != i || (i > 0 && bucketOf(bucketHigh(i-1)+1) != i) {
			t.Fatalf("bucket %d: bounds %d..%d map elsewhere", i, bucketHigh(i-1)+1, bucketHigh(i))
		}
	}
}

func TestReadProcMemory(t *testing.T) {
	rss, hwm, err := ReadProcMemory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss-1 {
		t.Fatalf("ReadProcMemory(self) = %v, %v, %v", rss, hwm, err)
	}
	before, err := ReadProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // burn some cpu
		after, err := ReadProcCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu time stuck at %v", after)
		}
	}
	if _, err := ReadProcCPU(1 << 30); err == nil {
		t.Fatal("no cpu time error for a process that does not exist")
	}
	if _, _, err := ReadProcMemory(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
