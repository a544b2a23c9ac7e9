package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionForMatchesJava(t *testing.T) {
	for _, tc := range []struct {
		group string
		n     int32
		want  int32
	}{
		{"", 50, 0},
		{"test", 50, 3556498 % 50},           // "test".hashCode() = 3556498
		{"polygenelubricants", 50, 0},        // hashCode() = Integer.MIN_VALUE: Utils.abs gives 0
		{"hello world", 50, 1794106052 % 50}, // positive
		{"Aa", 7, 2112 % 7},                  // "Aa" and "BB" collide in Java
		{"BB", 7, 2112 % 7},
		{"zzzzzzzz", 50, 1910022912 % 50}, // overflowing, hashCode() = -1910022912
		{"\U0001F600", 50, 1772899 % 50},  // surrogate pair 0xD83D 0xDE00: 55357*31+56832
	} {
		if got := PartitionFor(tc.group, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.n, got, tc.want)
		}
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	meta := kmsg.NewGroupMetadataValue()
	meta.Version = 3
	meta.ProtocolType = "consumer"
	meta.Generation = 7
	recs := []kv{
		{key: offsetKey("g", "orders", 3), value: offsetValue(committed{offset: 42, leaderEpoch: 5, metadata: "m", commitTime: 1000, expireTime: -1})},
		{key: offsetKey("g", "orders", 4), value: offsetValue(committed{offset: 9, leaderEpoch: -1, commitTime: 1000, expireTime: 5000})},
		{key: groupKey("g"), value: meta.AppendTo(nil)},
		{key: offsetKey("g", "orders", 3)},
		{key: groupKey("g")},
	}
	b := encodeBatch(recs, time.Now().UnixMilli())
	var got []record
	next, bad, err := decodeBatches(b, 0, func(r record) { got = append(got, r) })
	if err != nil || bad != 0 || next != 5 || len(got) != 5 {
		t.Fatalf("decode: next %d bad %d err %v, %d records", next, bad, err, len(got))
	}
	if k, v := got[0].offKey, got[0].offVal; k == nil || k.Topic != "orders" || k.Partition != 3 || v == nil || v.Offset != 42 || v.LeaderEpoch != 5 || v.Metadata != "m" || v.Version != 3 {
		t.Errorf("record 0: %+v %+v", k, v)
	}
	if v := got[1].offVal; v == nil || v.Version != 1 || v.ExpireTimestamp != 5000 {
		t.Errorf("record 1: %+v", v)
	}
	if k, v := got[2].groupKey, got[2].groupVal; k == nil || k.Group != "g" || v == nil || v.Generation != 7 || v.ProtocolType != "consumer" {
		t.Errorf("record 2: %+v %+v", k, v)
	}
	if got[3].offKey == nil || got[3].offVal != nil || got[4].groupKey == nil || got[4].groupVal != nil {
		t.Errorf("tombstones: %+v %+v", got[3], got[4])
	}
	for i, r := range got {
		if r.offset != int64(i) {
			t.Errorf("record %d has offset %d", i, r.offset)
		}
	}
	// A truncated batch is not read.
	if next, _, err := decodeBatches(b[:len(b)-1], 0, func(record) { t.Fatal("record from a partial batch") }); err != nil || next != 0 {
		t.Errorf("partial batch: next %d err %v", next, err)
	}
}

func FuzzDecodeBatches(f *testing.F) {
	f.Add(encodeBatch([]kv{{key: offsetKey("g", "t", 0), value: offsetValue(committed{offset: 1, expireTime: -1})}}, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeBatches(b, 0, func(record) {})
	})
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	c := DefaultConfig()
	c.OffsetsTopicPartitions = 0
	c.MinSessionTimeout = time.Hour
	if err := c.Validate(); err == nil {
		t.Fatal("bad config accepted")
	}
}
