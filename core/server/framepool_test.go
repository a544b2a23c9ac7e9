package server

import (
	"context"
	"crypto/rand"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/protocol"
)

// TestProduceFramesRecycled: pipelined Produce requests large enough for
// the frame pool, answered at once or deferred (the wait reads the
// request's bytes), each get the checksum of their own records back: a
// frame is reused only after its request was answered.
func TestProduceFramesRecycled(t *testing.T) {
	sum := func(req *kmsg.ProduceRequest) int64 {
		return int64(crc32.ChecksumIEEE(req.Topics[0].Partitions[0].Records))
	}
	answer := func(req *kmsg.ProduceRequest) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		rt := kmsg.NewProduceResponseTopic()
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.BaseOffset = sum(req)
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}
	produce := protocol.API{Key: 0, MinVersion: 3, MaxVersion: 11,
		Handle: func(_ context.Context, _ *protocol.Broker, r *protocol.Request) (kmsg.Response, error) {
			req := r.Body.(*kmsg.ProduceRequest)
			if req.TimeoutMillis%2 == 1 {
				return r.Defer(func(context.Context) (kmsg.Response, error) { return answer(req), nil })
			}
			return answer(req), nil
		}}
	e := startEnv(t, nil, produce)
	c := dialRaw(t, e.addr)

	const n = 40
	want := make(map[int32]int64)
	for i := range n {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, int32(1000+i)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pool"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = make([]byte, minPooledFrame+i*1000)
		_, _ = rand.Read(rp.Records)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		want[c.send(req)] = sum(req)
	}
	for range n {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		corr := c.recv(resp)
		if got := resp.Topics[0].Partitions[0].BaseOffset; got != want[corr] {
			t.Fatalf("request %d: checksum %d, want %d: its frame was overwritten", corr, got, want[corr])
		}
	}
}
