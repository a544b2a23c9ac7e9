package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 5 * time.Second

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := NewStore(cfg)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func topicID(b byte) metadata.TopicID {
	var id metadata.TopicID
	id[0], id[15] = b, 1
	return id
}

func spec(name string, parts ...metadata.PartitionSpec) metadata.TopicSpec {
	return metadata.TopicSpec{Name: name, ID: topicID(byte(len(name))), Partitions: parts}
}

func reg(id int32, inc string) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: id, IncarnationID: inc,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id}}, Rack: "r1"}
}

func revision(t *testing.T, b metadata.Backend) metadata.Revision {
	t.Helper()
	st, err := b.Snapshot(testCtx(t))
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return st.Revision
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// next receives one batch or fails the test at the deadline.
func next(t *testing.T, ch <-chan metadata.WatchBatch) (metadata.WatchBatch, bool) {
	t.Helper()
	select {
	case b, ok := <-ch:
		return b, ok
	case <-time.After(waitTimeout):
		t.Fatalf("no watch batch within %v", waitTimeout)
		return metadata.WatchBatch{}, false
	}
}

// nextBatch receives one data batch.
func nextBatch(t *testing.T, ch <-chan metadata.WatchBatch) metadata.WatchBatch {
	t.Helper()
	b, ok := next(t, ch)
	if !ok {
		t.Fatalf("watch channel closed")
	}
	if b.Err != nil {
		t.Fatalf("watch batch error: %v", b.Err)
	}
	return b
}

// endsWith receives until the Err batch and checks it, then the close.
func endsWith(t *testing.T, ch <-chan metadata.WatchBatch, want error) {
	t.Helper()
	for {
		b, ok := next(t, ch)
		if !ok {
			t.Fatalf("watch channel closed without an Err batch, want %v", want)
		}
		if b.Err == nil {
			continue
		}
		mustErr(t, b.Err, want)
		if _, ok := next(t, ch); ok {
			t.Fatalf("watch channel not closed after the Err batch")
		}
		return
	}
}

// closesClean checks that ch closes without an Err batch.
func closesClean(t *testing.T, ch <-chan metadata.WatchBatch) {
	t.Helper()
	for {
		b, ok := next(t, ch)
		if !ok {
			return
		}
		if b.Err != nil {
			t.Fatalf("unexpected Err batch: %v", b.Err)
		}
	}
}

// eventually polls cond until it is true or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(b metadata.WatchBatch) string {
	s := fmt.Sprintf("rev %d:", b.Revision)
	for _, e := range b.Events {
		s += " " + e.Type.String()
	}
	return s
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
