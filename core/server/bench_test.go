package server

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/protocol"
)

// BenchmarkServerPipelinedProduce drives the whole request path over
// loopback TCP: a client pipelines Produce requests carrying a 16 KiB
// batch (up to 32 in flight) to a test-only Produce handler that answers
// at once, and reads the responses. It measures the server's per-request
// overhead (framing, decode, dispatch, ordering, response encoding);
// allocations include the client side's.
func BenchmarkServerPipelinedProduce(b *testing.B) {
	produce := protocol.API{Key: 0, MinVersion: 3, MaxVersion: 11,
		Handle: func(_ context.Context, _ *protocol.Broker, r *protocol.Request) (kmsg.Response, error) {
			req := r.Body.(*kmsg.ProduceRequest)
			resp := req.ResponseKind().(*kmsg.ProduceResponse)
			for _, t := range req.Topics {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition = p.Partition
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}}
	e := startEnv(b, nil, produce)
	c := dialRaw(b, e.addr)

	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = 1
	req.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "bench"
	part := kmsg.NewProduceRequestTopicPartition()
	part.Records = make([]byte, 16<<10)
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)

	const window = 32
	sent := make(chan struct{}, window)
	done := make(chan error, 1)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			sent <- struct{}{}
			if _, err := c.nc.Write(frame); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < b.N; i++ {
		if _, err := c.readFrame(); err != nil {
			b.Fatal(err)
		}
		<-sent
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
