package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/topicconfig"
)

// keyedBatch builds an uncompressed one-record batch as a producer sends
// it, with key (nil: no key) and value.
func keyedBatch(key, value []byte) []byte {
	var body []byte
	body = append(body, 0)
	body = binary.AppendVarint(body, 0) // timestamp delta
	body = binary.AppendVarint(body, 0) // offset delta
	if key == nil {
		body = binary.AppendVarint(body, -1)
	} else {
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
	}
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0)
	rec := binary.AppendVarint(nil, int64(len(body)))
	rec = append(rec, body...)

	ts := time.Now().UnixMilli()
	b := make([]byte, 61, 61+len(rec))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(49+len(rec)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint64(b[43:], ^uint64(0)) // producer id -1
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], 1)
	b = append(b, rec...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// records decodes the records of uncompressed batches: offset, key, value.
func records(t testing.TB, batches []byte) (offsets []int64, keys, values []string) {
	t.Helper()
	for len(batches) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(batches); err != nil {
			t.Fatalf("decoding a batch: %v", err)
		}
		batches = batches[12+int(rb.Length):]
		raw := rb.Records
		for range rb.NumRecords {
			n, used := binary.Varint(raw)
			var r kmsg.Record
			if err := r.ReadFrom(raw[:used+int(n)]); err != nil {
				t.Fatalf("decoding a record: %v", err)
			}
			raw = raw[used+int(n):]
			offsets = append(offsets, rb.FirstOffset+int64(r.OffsetDelta))
			keys = append(keys, string(r.Key))
			values = append(values, string(r.Value))
		}
	}
	return offsets, keys, values
}

// TestCompactedTopic: a topic with cleanup.policy=compact refuses records
// without a key (INVALID_RECORD), has no time or size retention, and the
// Manager's cleaner compacts its closed segments to the latest record of
// each key, offsets kept.
func TestCompactedTopic(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CompactionCheckInterval = 10 * time.Millisecond })
	e.createTopic("compacted", 1, map[string]string{
		topicconfig.CleanupPolicy:          "compact",
		topicconfig.SegmentBytes:           "1024",
		topicconfig.MinCleanableDirtyRatio: "0.01",
	})
	p := e.leader("compacted", 0)
	cfg := p.role.Load().cfg
	if !cfg.Compact || cfg.Log.RetentionMs >= 0 || cfg.Log.RetentionBytes >= 0 {
		t.Fatalf("compact-only topic config: compact %v retention.ms %v retention.bytes %d", cfg.Compact, cfg.Log.RetentionMs, cfg.Log.RetentionBytes)
	}

	if _, err := p.Append(keyedBatch(nil, []byte("no key")), 1); !errors.Is(err, commitlog.ErrInvalidRecord) {
		t.Fatalf("a record without a key: %v, want ErrInvalidRecord", err)
	}

	const n, nkeys = 200, 5
	latest := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("k%d", i%nkeys), fmt.Sprintf("v%03d", i)
		mustAppend(t, p, keyedBatch([]byte(k), []byte(v)))
		latest[k] = v
	}
	if p.LogEndOffset() != n {
		t.Fatalf("log end offset %d, want %d", p.LogEndOffset(), n)
	}

	var offs []int64
	var keys, vals []string
	eventually(t, "the cleaner compacts the closed segments", func() bool {
		offs, keys, vals = records(t, fetchAll(t, p, p.LogStartOffset()))
		return len(offs) < n/2
	})
	got := map[string]string{}
	for i := range offs {
		if i > 0 && offs[i] <= offs[i-1] {
			t.Fatalf("offsets not increasing after compaction: %v", offs)
		}
		if want := fmt.Sprintf("v%03d", offs[i]); vals[i] != want {
			t.Fatalf("offset %d holds %q, want %q: a record moved", offs[i], vals[i], want)
		}
		got[keys[i]] = vals[i]
	}
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("key %s: latest value %q after compaction, want %q", k, got[k], v)
		}
	}
	if p.LogEndOffset() != n {
		t.Fatalf("log end offset moved to %d by compaction", p.LogEndOffset())
	}

	// Switching the topic to delete stops the cleaner's work and accepts
	// records without keys again.
	e.alterConfigs("compacted", map[string]string{topicconfig.CleanupPolicy: "delete"})
	mustAppend(t, p, keyedBatch(nil, []byte("no key")))
}
