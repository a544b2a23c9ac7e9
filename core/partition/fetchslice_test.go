package partition

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/chronik-go/chronik/core/commitlog"
)

// TestFetchSliceMatchesFetch: FetchSlice answers what Fetch answers (same
// bytes, offsets and errors) for the cases Fetch distinguishes.
func TestFetchSliceMatchesFetch(t *testing.T) {
	e := newEnv(t, nil)
	e.createTopic("slices", 1, nil)
	p := e.leader("slices", 0)
	for _, n := range []int{1, 2, 3, 1} {
		mustAppend(t, p, makeBatch(plain(n)))
	}
	small := consumerFetch(0)
	small.MaxBytes, small.MinOneMessage = 10, false
	smallOne := small
	smallOne.MinOneMessage = true
	follower := consumerFetch(0)
	follower.ReplicaID = 7 // not a replica: an error
	for name, f := range map[string]FetchParams{
		"start": consumerFetch(0), "inside": consumerFetch(4), "end": consumerFetch(7),
		"past": consumerFetch(8), "small": small, "small-min-one": smallOne, "not-a-follower": follower,
	} {
		want, werr := p.Fetch(nil, f)
		got, gerr := p.FetchSlice(f)
		data, aerr := got.Slice.AppendTo(nil)
		_ = got.Slice.Close()
		_ = got.Slice.Close() // idempotent
		if aerr != nil {
			t.Fatalf("%s: AppendTo: %v", name, aerr)
		}
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%s: errors %v vs %v", name, werr, gerr)
		}
		if !bytes.Equal(data, want.Records) || got.Records != nil {
			t.Fatalf("%s: %d bytes vs %d", name, len(data), len(want.Records))
		}
		got.Slice, want.Records = commitlog.FileSlice{}, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %+v vs %+v", name, got, want)
		}
	}
	if _, err := p.FetchSlice(consumerFetch(8)); !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
		t.Fatalf("past the end: %v", err)
	}
}
