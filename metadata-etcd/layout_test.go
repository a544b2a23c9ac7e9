package etcdmeta

import (
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestLayoutParse(t *testing.T) {
	l := layout{prefix: "/c/"}
	for _, tc := range []struct {
		key  string
		want parsedKey
	}{
		{l.broker(7), parsedKey{kind: kindBroker, id: 7}},
		{l.session(2147483647), parsedKey{kind: kindSession, id: 2147483647}},
		{l.topic("a/b c%"), parsedKey{kind: kindTopic, topic: "a/b c%"}},
		{l.chunk("a/b", 40), parsedKey{kind: kindChunk, topic: "a/b", first: 40}},
		{l.producerIDs(), parsedKey{kind: kindProducerIDs}},
		{l.changed(), parsedKey{kind: kindChanged}},
		{l.clusterID(), parsedKey{kind: kindClusterID}},
		// Not the layout: ignored.
		{"/c/brokers/7", parsedKey{}},
		{"/c/brokers/-000000001", parsedKey{}},
		{"/c/topics/", parsedKey{}},
		{"/c/topics/a/b", parsedKey{}},
		{"/c/partitions/a/12", parsedKey{}},
		{"/c/x/brokers/0000000001", parsedKey{}},
		{"/other/brokers/0000000001", parsedKey{}},
		{"/c/producer-ids2", parsedKey{}},
	} {
		if got := l.parse([]byte(tc.key)); got != tc.want {
			t.Errorf("parse(%q) = %+v, want %+v", tc.key, got, tc.want)
		}
	}
}

func TestChunkSize(t *testing.T) {
	for _, tc := range []struct{ n, ops, want int }{
		{1, 128, 1}, {126, 128, 1}, {127, 128, 2}, {5000, 128, 40}, {1000, 16, 72}, {3, 3, 3},
	} {
		got := chunkSize(tc.n, tc.ops)
		if got != tc.want {
			t.Errorf("chunkSize(%d, %d) = %d, want %d", tc.n, tc.ops, got, tc.want)
		}
		if chunks := (tc.n + got - 1) / got; chunks+2 > tc.ops {
			t.Errorf("chunkSize(%d, %d): %d chunks + 2 exceed %d operations", tc.n, tc.ops, chunks, tc.ops)
		}
	}
}

func TestBrokerEpochFromModRevision(t *testing.T) {
	reg := metadata.BrokerRegistration{ID: 3, IncarnationID: "x", Rack: "r"}
	kv := &mvccpb.KeyValue{Key: []byte("/c/brokers/0000000003"), Value: []byte(mustJSON(newBrokerRecord(reg))), ModRevision: 42}
	b, err := decodeBroker(kv)
	if err != nil || b.Epoch != 42 || b.Fenced {
		t.Fatalf("registration record: %+v %v, want epoch 42", b, err)
	}
	b.Fenced = true
	kv = &mvccpb.KeyValue{Key: kv.Key, Value: []byte(encodeBroker(b)), ModRevision: 57}
	f, err := decodeBroker(kv)
	if err != nil || f.Epoch != 42 || !f.Fenced {
		t.Fatalf("fenced record: %+v %v, want epoch 42 fenced", f, err)
	}
}
