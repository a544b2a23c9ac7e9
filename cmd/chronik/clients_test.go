package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Real non-Go clients against the chronik binary: kafka-python 2.0.2 and
// kcat (librdkafka 2.0.2), both as packaged by Debian 12. They are test
// prerequisites (.ci/run installs them); a missing one fails the test with
// the apt packages to install, it is never skipped.

const (
	pythonPackages = "python3 python3-kafka python3-snappy python3-lz4 python3-zstandard"
	kcatPackages   = "kcat"
)

// codecs are the compression codecs every client must get through the
// broker, with the record batch attribute bits Kafka gives each.
var codecs = []struct {
	name string
	attr int16
	kgo  kgo.CompressionCodec
}{
	{"none", 0, kgo.NoCompression()},
	{"gzip", 1, kgo.GzipCompression()},
	{"snappy", 2, kgo.SnappyCompression()},
	{"lz4", 3, kgo.Lz4Compression()},
	{"zstd", 4, kgo.ZstdCompression()},
}

// padding makes values compressible: librdkafka and kafka-python send a
// batch uncompressed when compressing would not shrink it.
var padding = strings.Repeat("chronik", 30)

// clientRecord is one record as a client saw it.
type clientRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
}

func (r clientRecord) String() string {
	return fmt.Sprintf("%d@%d %s=%s", r.Partition, r.Offset, r.Key, r.Value)
}

func sortRecords(rs []clientRecord) []clientRecord {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b clientRecord) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return rs
}

// sameRecords fails unless got and want hold the same records.
func sameRecords(t *testing.T, what string, got, want []clientRecord) {
	t.Helper()
	g, w := sortRecords(got), sortRecords(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %d records, want %d\n got: %v\nwant: %v", what, len(g), len(w), g, w)
	}
}

// pythonWithKafka returns a python3 that imports kafka-python and the
// compression modules, or fails naming the apt packages.
func pythonWithKafka(t *testing.T) string {
	t.Helper()
	// Debian's packages install into the system interpreter, which a
	// python3 earlier on PATH (pyenv, a venv) would not see.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Fatalf("no python3 interpreter: the kafka-python tests need `apt-get install -y %s` (.ci/run installs them)", pythonPackages)
		}
	}
	out, err := exec.Command(py, "-c", "import kafka, snappy, lz4, zstandard; print(kafka.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import kafka-python and its codecs (%v): the kafka-python tests need `apt-get install -y %s` (.ci/run installs them)\n%s",
			py, err, pythonPackages, out)
	}
	t.Logf("kafka-python %s (%s)", strings.TrimSpace(string(out)), py)
	return py
}

// kcatPath returns the kcat binary, or fails naming the apt package.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("no kcat on PATH: the librdkafka tests need `apt-get install -y %s` (.ci/run installs it)", kcatPackages)
	}
	return path
}

// runClient runs a client command with stdin, failing the test on a
// non-zero exit, and returns its stdout.
func runClient(ctx context.Context, t *testing.T, stdin string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// jsonRecords parses one JSON record per line.
func jsonRecords(t *testing.T, out []byte) []clientRecord {
	t.Helper()
	var rs []clientRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r clientRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("client output line %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs
}

// createTopics creates topics with partitions each through kadm.
func createTopics(ctx context.Context, t *testing.T, addr string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil || resps.Error() != nil {
		t.Fatalf("CreateTopics %v: %v / %v", topics, err, resps.Error())
	}
}

// consumeWithKgo reads want records of topic from the start with franz-go.
func consumeWithKgo(ctx context.Context, t *testing.T, addr, topic string, want int) []clientRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []clientRecord
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: franz-go read %d of %d records before the deadline", topic, len(out), want)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, clientRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
		})
	}
	return out
}

// produceWithKgo produces n records to topic round-robin over partitions
// with codec, acks=all, and returns them with their offsets.
func produceWithKgo(ctx context.Context, t *testing.T, addr, topic string, partitions int32, codec kgo.CompressionCodec, prefix string, n int) []clientRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions,
			Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce to %s: %v", topic, err)
	}
	var out []clientRecord
	for _, r := range recs {
		out = append(out, clientRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
	}
	return out
}

// checkStoredCodec fails the test unless every batch stored in topic's
// partitions carries the codec attribute attr the client (who) was told to
// use (codec).
func checkStoredCodec(ctx context.Context, t *testing.T, who, addr, topic string, parts int32, codec string, attr int16) {
	t.Helper()
	for part := range parts {
		for _, got := range storedCodecs(ctx, t, addr, topic, part) {
			if got != attr {
				t.Fatalf("%s/%d: a batch is stored with codec %d, %s sent %s (%d)", topic, part, got, who, codec, attr)
			}
		}
	}
}

// storedCodecs returns the compression codec attribute of every batch
// stored in topic/partition.
func storedCodecs(ctx context.Context, t *testing.T, addr, topic string, partition int32) []int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []int16
	for _, raw := range fetchRawBatches(ctx, t, cl, topic, partition) {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Attributes&7)
	}
	return out
}

// checkDense fails unless each partition's acknowledged offsets run 0, 1, …
// in produce order, the partition being index % partitions.
func checkDense(t *testing.T, what string, acked []clientRecord, partitions int32) {
	t.Helper()
	next := map[int32]int64{}
	for i, r := range acked {
		if want := int32(i) % partitions; r.Partition != want {
			t.Fatalf("%s: record %d acknowledged on partition %d, sent to %d", what, i, r.Partition, want)
		}
		if r.Offset != next[r.Partition] {
			t.Fatalf("%s: record %d acknowledged at %d/%d, want offset %d", what, i, r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
}

// TestKafkaPython: kafka-python 2.0.2 (Debian's python3-kafka) produces
// with acks=all through every codec it has, consumes without a group
// (assign + seek to beginning) what it and franz-go produced, and creates,
// describes and deletes topics with KafkaAdminClient. Every record comes
// back exactly, at the offset it was acknowledged at, and is stored with
// the codec it was sent with.
func TestKafkaPython(t *testing.T) {
	py := pythonWithKafka(t)
	p := startChronik(t, t.TempDir())
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const parts, n = 3, 30

	t.Run("produce", func(t *testing.T) {
		for _, c := range codecs {
			topic := "kafka-python-" + c.name
			createTopics(ctx, t, p.kafka, parts, topic)
			acked := jsonRecords(t, runClient(ctx, t, "", py, "testdata/kafka_python_produce.py", p.kafka, topic, c.name, fmt.Sprint(n), fmt.Sprint(parts)))
			if len(acked) != n {
				t.Fatalf("%s: kafka-python acknowledged %d of %d records", c.name, len(acked), n)
			}
			checkDense(t, "kafka-python "+c.name, acked, parts)
			sameRecords(t, "franz-go reading kafka-python's "+c.name, consumeWithKgo(ctx, t, p.kafka, topic, n), acked)
			sameRecords(t, "kafka-python reading its own "+c.name,
				jsonRecords(t, runClient(ctx, t, "", py, "testdata/kafka_python_consume.py", p.kafka, topic, fmt.Sprint(parts), fmt.Sprint(n))), acked)
			checkStoredCodec(ctx, t, "kafka-python", p.kafka, topic, parts, c.name, c.attr)
		}
	})

	t.Run("consume", func(t *testing.T) {
		topic := "kafka-python-from-franz-go"
		createTopics(ctx, t, p.kafka, parts, topic)
		var sent []clientRecord
		for _, c := range codecs {
			sent = append(sent, produceWithKgo(ctx, t, p.kafka, topic, parts, c.kgo, c.name, 12)...)
		}
		got := jsonRecords(t, runClient(ctx, t, "", py, "testdata/kafka_python_consume.py", p.kafka, topic, fmt.Sprint(parts), fmt.Sprint(len(sent))))
		sameRecords(t, "kafka-python reading franz-go's records in every codec", got, sent)
	})

	t.Run("admin", func(t *testing.T) {
		const topic = "kafka-python-admin"
		var res struct {
			Created     [][]any           `json:"created"`
			Listed      bool              `json:"listed"`
			Configs     map[string]string `json:"configs"`
			Deleted     [][]any           `json:"deleted"`
			ListedAfter bool              `json:"listed_after"`
		}
		out := runClient(ctx, t, "", py, "testdata/kafka_python_admin.py", p.kafka, topic)
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("admin output %q: %v", out, err)
		}
		ok := fmt.Sprint([][]any{{topic, 0.0}})
		if fmt.Sprint(res.Created) != ok || !res.Listed || fmt.Sprint(res.Deleted) != ok || res.ListedAfter {
			t.Fatalf("kafka-python admin: %+v; want created and deleted with error 0, listed only in between", res)
		}
		for k, v := range map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete", "min.insync.replicas": "1"} {
			if res.Configs[k] != v {
				t.Fatalf("kafka-python describe_configs: %s=%q, want %q (all: %v)", k, res.Configs[k], v, res.Configs)
			}
		}
	})
}

// TestKcat: kcat (librdkafka 2.0.2) produces keyed records with acks=all
// and idempotence through every codec, and consumes (-C -e) what it and
// franz-go produced; every record comes back exactly, and every batch is
// stored with the codec kcat was told to use (librdkafka before 2.8 sends
// gzip, snappy and lz4 batches uncompressed to a broker whose ApiVersions
// answer lacks Produce v0, librdkafka#4956: chronik lists Produce from v0
// as Kafka 4.0 does, KAFKA-18659).
func TestKcat(t *testing.T) {
	kcat := kcatPath(t)
	p := startChronik(t, t.TempDir())
	p.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const parts, n = 2, 20

	// consume reads topic to its end with kcat.
	consume := func(t *testing.T, topic string) []clientRecord {
		t.Helper()
		out := runClient(ctx, t, "", kcat, "-C", "-b", p.kafka, "-t", topic, "-o", "beginning", "-e", "-q",
			"-f", `{"partition":%p,"offset":%o,"key":"%k","value":"%s"}\n`)
		return jsonRecords(t, out)
	}

	t.Run("produce", func(t *testing.T) {
		for _, c := range codecs {
			topic := "kcat-" + c.name
			createTopics(ctx, t, p.kafka, parts, topic)
			var want []clientRecord
			for part := range int32(parts) {
				var in strings.Builder
				for i := range n / parts {
					r := clientRecord{part, int64(i), fmt.Sprintf("k%d", i), fmt.Sprintf("%s-%d-%d-%s", c.name, part, i, padding)}
					fmt.Fprintf(&in, "%s:%s\n", r.Key, r.Value)
					want = append(want, r)
				}
				runClient(ctx, t, in.String(), kcat, "-P", "-b", p.kafka, "-t", topic, "-p", fmt.Sprint(part), "-K:",
					"-z", c.name, "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=20")
			}
			sameRecords(t, "kcat reading its own "+c.name, consume(t, topic), want)
			sameRecords(t, "franz-go reading kcat's "+c.name, consumeWithKgo(ctx, t, p.kafka, topic, len(want)), want)
			checkStoredCodec(ctx, t, "kcat", p.kafka, topic, parts, c.name, c.attr)
		}
	})

	t.Run("consume", func(t *testing.T) {
		topic := "kcat-from-franz-go"
		createTopics(ctx, t, p.kafka, parts, topic)
		var sent []clientRecord
		for _, c := range codecs {
			sent = append(sent, produceWithKgo(ctx, t, p.kafka, topic, parts, c.kgo, c.name, 10)...)
		}
		sameRecords(t, "kcat reading franz-go's records in every codec", consume(t, topic), sent)
	})
}
