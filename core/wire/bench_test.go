package wire

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkParseProduce16KiB: header parse and kmsg decode of a Produce
// request carrying a 16 KiB record batch, flexible (v9) and not (v7).
// The allocations are kmsg's (the request structs); the records are not
// copied.
func BenchmarkParseProduce16KiB(b *testing.B) {
	for _, v := range []int16{7, 9} {
		frame := frameOf(b, produceRequest16KiB(v), 1, kmsg.StringPtr("bench-client"))
		b.Run(fmt.Sprintf("Produce/v%d", v), func(b *testing.B) {
			var h Header
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseRequest(frame, &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadFrameProduce16KiB: the framing path from a buffered stream:
// size, frame allocation (the one allocation a request needs, since the
// decoded request aliases it), header and body decode.
func BenchmarkReadFrameProduce16KiB(b *testing.B) {
	one := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench-client")).AppendRequest(nil, produceRequest16KiB(9), 1)
	stream := bytes.Repeat(one, 64)
	src := bytes.NewReader(stream)
	br := bufio.NewReaderSize(src, 64<<10)
	fr := NewFrameReader(br, DefaultMaxRequestSize)
	var h Header
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		frame, err := fr.Next()
		if err == io.EOF {
			src.Reset(stream)
			br.Reset(src)
			frame, err = fr.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseRequest(frame, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendResponse: response framing into a reused buffer; zero
// allocations.
func BenchmarkAppendResponse(b *testing.B) {
	for _, v := range []int16{7, 9} {
		resp := produceResponse(v)
		b.Run(fmt.Sprintf("Produce/v%d", v), func(b *testing.B) {
			buf := AppendResponse(nil, 1, resp)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendResponse(buf[:0], 1, resp)
			}
		})
	}
}
