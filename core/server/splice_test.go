package server

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/wire"
)

// countedChunk is a wire.Chunk over bytes counting its Closes.
type countedChunk struct {
	b      []byte
	closed *atomic.Int32
}

func (c countedChunk) Len() int64 { return int64(len(c.b)) }
func (c countedChunk) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(c.b)
	return int64(n), err
}
func (c countedChunk) AppendTo(dst []byte) ([]byte, error) { return append(dst, c.b...), nil }
func (c countedChunk) Close() error                        { c.closed.Add(1); return nil }

type splicedFetch struct {
	*kmsg.FetchResponse
	chunks   []wire.Chunk
	released atomic.Int32
}

func (s *splicedFetch) Chunks() []wire.Chunk { return s.chunks }
func (s *splicedFetch) Release() {
	if s.released.Add(1) == 1 {
		for _, c := range s.chunks {
			_ = c.Close()
		}
	}
}

// TestSplicedResponses: a handler answering a wire.SplicedResponse (a
// test Fetch whose partitions' record sets are chunks) gets its response
// to the client byte for byte, in order with plain responses around it,
// and every chunk is closed once — also for a deferred answer the
// connection closed under.
func TestSplicedResponses(t *testing.T) {
	var closed atomic.Int32
	gate := make(chan struct{})
	deferred := make(chan struct{}, 1)
	fetch := protocol.API{Key: 1, MinVersion: 4, MaxVersion: 16,
		Handle: func(_ context.Context, _ *protocol.Broker, r *protocol.Request) (kmsg.Response, error) {
			req := r.Body.(*kmsg.FetchRequest)
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			sr := &splicedFetch{FetchResponse: resp}
			for _, rt := range req.Topics {
				st := kmsg.NewFetchResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewFetchResponseTopicPartition()
					sp.Partition = rp.Partition
					data := bytes.Repeat([]byte{byte(rp.Partition)}, int(rp.PartitionMaxBytes))
					sp.RecordBatches = wire.Placeholder(len(sr.chunks))
					sr.chunks = append(sr.chunks, countedChunk{b: data, closed: &closed})
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			if req.MaxWaitMillis > 0 { // deferred until the gate opens
				deferred <- struct{}{}
				return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
					select {
					case <-gate:
					case <-ctx.Done():
					}
					return sr, nil
				})
			}
			return sr, nil
		}}
	e := startEnv(t, nil, fetch)
	c := dialRaw(t, e.addr)

	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for i, n := range []int32{10, 200000, 0, 70000} {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = int32(i), n
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)

	for range 3 {
		c.echo("before", 4)
		resp := c.roundTrip(req).(*kmsg.FetchResponse)
		for i, p := range resp.Topics[0].Partitions {
			want := bytes.Repeat([]byte{byte(i)}, int(req.Topics[0].Partitions[i].PartitionMaxBytes))
			if !bytes.Equal(p.RecordBatches, want) {
				t.Fatalf("partition %d: %d bytes, want %d", i, len(p.RecordBatches), len(want))
			}
		}
		c.echo("after", 4)
	}
	eventually(t, "every chunk closed once", func() bool { return closed.Load() == 3*4 })

	// A deferred spliced answer whose connection goes away is released.
	req.MaxWaitMillis = 10000
	c.send(req)
	<-deferred
	_ = c.nc.Close()
	eventually(t, "the unwritten response's chunks closed", func() bool { return closed.Load() == 4*4 })
	close(gate)
}
