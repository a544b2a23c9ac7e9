package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// memChunk is a Chunk over bytes that counts its Closes.
type memChunk struct {
	b      []byte
	closed int
}

func (c *memChunk) Len() int64 { return int64(len(c.b)) }
func (c *memChunk) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(c.b)
	return int64(n), err
}
func (c *memChunk) AppendTo(dst []byte) ([]byte, error) { return append(dst, c.b...), nil }
func (c *memChunk) Close() error                        { c.closed++; return nil }

type splicedFetch struct {
	*kmsg.FetchResponse
	chunks []Chunk
}

func (s *splicedFetch) Chunks() []Chunk { return s.chunks }
func (s *splicedFetch) Release() {
	for _, c := range s.chunks {
		_ = c.Close()
	}
}

// fetchResponse builds a Fetch response at version v whose partitions
// carry data (or, spliced, placeholders for it), with metadata around.
func fetchResponse(v int16, data [][]byte, spliced bool) kmsg.Response {
	r := kmsg.NewPtrFetchResponse()
	r.Version = v
	t := kmsg.NewFetchResponseTopic()
	t.Topic = "splice-topic"
	var chunks []Chunk
	for i, d := range data {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		p.HighWatermark = int64(1000 + i)
		p.RecordBatches = d
		if spliced && len(d) > 0 {
			p.RecordBatches = Placeholder(len(chunks))
			chunks = append(chunks, &memChunk{b: d})
		}
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	if spliced {
		return &splicedFetch{FetchResponse: r, chunks: chunks}
	}
	return r
}

// TestSplicedResponse: the frame with the chunks inserted at the splices
// is byte for byte the plain encoding, for flexible and non-flexible
// versions and chunk sizes across the uvarint length boundaries; the
// prefix in the buffer is kept; AppendResponse copies the chunks in and
// releases them.
func TestSplicedResponse(t *testing.T) {
	sizes := [][]int{{5}, {126, 127, 128}, {0, 16383, 16384, 0}, {3 << 20, 1, 2 << 20}}
	for _, v := range []int16{4, 11, 12, 16} {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("v%d/%v", v, sz), func(t *testing.T) {
				var data [][]byte
				for i, n := range sz {
					data = append(data, bytes.Repeat([]byte{byte('a' + i)}, n))
				}
				want := AppendResponse([]byte("prefix"), 42, fetchResponse(v, data, false))

				sr := fetchResponse(v, data, true).(*splicedFetch)
				out, splices, err := AppendSplicedResponse([]byte("prefix"), 42, sr, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(splices) != len(sr.chunks) {
					t.Fatalf("%d splices, %d chunks", len(splices), len(sr.chunks))
				}
				var got []byte
				last := 0
				for _, s := range splices {
					got = append(got, out[last:s.At]...)
					got, _ = s.Chunk.AppendTo(got)
					last = s.At
				}
				got = append(got, out[last:]...)
				if !bytes.Equal(got, want) {
					t.Fatalf("spliced frame differs from the plain one (%d vs %d bytes)", len(got), len(want))
				}
				for _, c := range sr.chunks {
					if c.(*memChunk).closed != 0 {
						t.Fatal("AppendSplicedResponse closed a chunk")
					}
				}

				sr = fetchResponse(v, data, true).(*splicedFetch)
				if got := AppendResponse([]byte("prefix"), 42, sr); !bytes.Equal(got, want) {
					t.Fatal("AppendResponse of the spliced response differs from the plain one")
				}
				for _, c := range sr.chunks {
					if c.(*memChunk).closed != 1 {
						t.Fatalf("chunk closed %d times by AppendResponse", c.(*memChunk).closed)
					}
				}
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = v
				if corr, err := ParseResponse(want[len("prefix")+4:], resp); err != nil || corr != 42 {
					t.Fatalf("ParseResponse: %d, %v", corr, err)
				}
			})
		}
	}
}

func TestSplicedResponseMissingPlaceholder(t *testing.T) {
	sr := fetchResponse(12, [][]byte{[]byte("data")}, true).(*splicedFetch)
	sr.chunks = append(sr.chunks, &memChunk{b: []byte("never placed")})
	out, _, err := AppendSplicedResponse([]byte("keep"), 1, sr, nil)
	if !errors.Is(err, ErrSplice) || string(out) != "keep" {
		t.Fatalf("got %q, %v; want the buffer as it was and ErrSplice", out, err)
	}
}

// BenchmarkAppendSplicedResponse: encoding a Fetch response of 6
// partitions whose record sets are chunks (placeholders found and
// replaced); the chunk bytes are not touched.
func BenchmarkAppendSplicedResponse(b *testing.B) {
	data := make([][]byte, 6)
	for i := range data {
		data[i] = make([]byte, 170<<10)
	}
	sr := fetchResponse(12, data, true).(*splicedFetch)
	buf := make([]byte, 0, 64<<10)
	var splices []Splice
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, splices, err = AppendSplicedResponse(buf[:0], 1, sr, splices[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}
