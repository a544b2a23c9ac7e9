package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameOf encodes req the way a client does (kmsg's RequestFormatter, the
// code franz-go sends with) and returns the frame without its size prefix.
func frameOf(t testing.TB, req kmsg.Request, corr int32, clientID *string) []byte {
	t.Helper()
	var f *kmsg.RequestFormatter
	if clientID != nil {
		f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(*clientID))
	} else {
		f = kmsg.NewRequestFormatter()
	}
	return f.AppendRequest(nil, req, corr)[4:]
}

// produceRequest16KiB is a Produce request at version v carrying one
// partition with a 16 KiB record batch (16 records of 1 KiB).
func produceRequest16KiB(v int16) *kmsg.ProduceRequest {
	batch := kmsg.NewRecordBatch()
	batch.Magic = 2
	batch.NumRecords = 16
	var records []byte
	for i := 0; i < 16; i++ {
		rec := kmsg.NewRecord()
		rec.OffsetDelta = int32(i)
		rec.Key = []byte("key")
		rec.Value = make([]byte, 1024)
		for j := range rec.Value {
			rec.Value[j] = byte(i + j)
		}
		records = rec.AppendTo(records)
	}
	batch.Records = records
	raw := batch.AppendTo(nil)

	req := kmsg.NewPtrProduceRequest()
	req.Version = v
	req.Acks = -1
	req.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "bench-topic"
	part := kmsg.NewProduceRequestTopicPartition()
	part.Partition = 3
	part.Records = raw
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	return req
}
