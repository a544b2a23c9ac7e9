package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRoundTripEveryKeyAndVersion encodes a default request of every key and
// version kmsg knows with kmsg's client-side formatter, parses it back and
// checks the header and that the decoded body re-encodes to the same bytes.
func TestRoundTripEveryKeyAndVersion(t *testing.T) {
	clientID := "round-trip"
	var keys, cases int
	for key := int16(0); key < 1000; key++ {
		proto := kmsg.RequestForKey(key)
		if proto == nil {
			continue
		}
		keys++
		for v := int16(0); v <= proto.MaxVersion(); v++ {
			if key == 7 && v == 0 {
				continue // ControlledShutdown v0 has header v0; not served
			}
			for _, id := range []*string{&clientID, nil} {
				cases++
				req := kmsg.RequestForKey(key)
				req.SetVersion(v)
				frame := frameOf(t, req, int32(cases), id)

				var h Header
				got, err := ParseRequest(frame, &h)
				if err != nil {
					t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
				}
				wantID := ""
				if id != nil {
					wantID = *id
				}
				want := Header{Key: key, Version: v, CorrelationID: int32(cases), ClientID: wantID, Flexible: req.IsFlexible()}
				if h != want {
					t.Fatalf("%s v%d: header %+v, want %+v", kmsg.NameForKey(key), v, h, want)
				}
				if reflect.TypeOf(got) != reflect.TypeOf(req) || got.GetVersion() != v {
					t.Fatalf("%s v%d: decoded %T v%d", kmsg.NameForKey(key), v, got, got.GetVersion())
				}
				if a, b := req.AppendTo(nil), got.AppendTo(nil); !bytes.Equal(a, b) {
					t.Fatalf("%s v%d: body re-encodes to %x, want %x", kmsg.NameForKey(key), v, b, a)
				}
			}
		}
	}
	if keys < 70 || cases < 500 {
		t.Fatalf("only %d keys, %d cases: kmsg lookup broken?", keys, cases)
	}
}

// TestRoundTripPopulated round-trips requests with real content, flexible
// and not, and compares decoded fields.
func TestRoundTripPopulated(t *testing.T) {
	metadata := func(v int16) kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = v
		for _, name := range []string{"orders", "payments"} {
			topic := kmsg.NewMetadataRequestTopic()
			topic.Topic = kmsg.StringPtr(name)
			r.Topics = append(r.Topics, topic)
		}
		r.AllowAutoTopicCreation = true
		return r
	}
	fetch := func(v int16) kmsg.Request {
		r := kmsg.NewPtrFetchRequest()
		r.Version = v
		r.MaxWaitMillis = 500
		r.MinBytes = 1
		r.MaxBytes = 50 << 20
		topic := kmsg.NewFetchRequestTopic()
		topic.Topic = "orders"
		topic.TopicID = [16]byte{1, 2, 3}
		for p := int32(0); p < 3; p++ {
			part := kmsg.NewFetchRequestTopicPartition()
			part.Partition = p
			part.FetchOffset = int64(p) * 100
			part.PartitionMaxBytes = 1 << 20
			topic.Partitions = append(topic.Partitions, part)
		}
		r.Topics = append(r.Topics, topic)
		return r
	}
	apiVersions := func(v int16) kmsg.Request {
		r := kmsg.NewPtrApiVersionsRequest()
		r.Version = v
		r.ClientSoftwareName = "kgo"
		r.ClientSoftwareVersion = "1.22.3"
		return r
	}
	createTopics := func(v int16) kmsg.Request {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Version = v
		topic := kmsg.NewCreateTopicsRequestTopic()
		topic.Topic = "t"
		topic.NumPartitions = 6
		topic.ReplicationFactor = 3
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name = "retention.ms"
		cfg.Value = kmsg.StringPtr("1000")
		topic.Configs = append(topic.Configs, cfg)
		r.Topics = append(r.Topics, topic)
		r.ValidateOnly = v >= 1
		return r
	}
	cases := []struct {
		name string
		req  kmsg.Request
	}{
		{"produce v3", produceRequest16KiB(3)},
		{"produce v8", produceRequest16KiB(8)},
		{"produce v9 flexible", produceRequest16KiB(9)},
		{"produce v12 flexible", produceRequest16KiB(12)},
		{"metadata v1", metadata(1)},
		{"metadata v8", metadata(8)},
		{"metadata v9 flexible", metadata(9)},
		{"metadata v12 flexible", metadata(12)},
		{"fetch v4", fetch(4)},
		{"fetch v11", fetch(11)},
		{"fetch v12 flexible", fetch(12)},
		{"fetch v16 flexible", fetch(16)},
		{"apiversions v0", apiVersions(0)},
		{"apiversions v2", apiVersions(2)},
		{"apiversions v3 flexible", apiVersions(3)},
		{"apiversions v4 flexible", apiVersions(4)},
		{"createtopics v2", createTopics(2)},
		{"createtopics v5 flexible", createTopics(5)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := frameOf(t, tc.req, int32(i+100), kmsg.StringPtr("client-"+tc.name))
			var h Header
			got, err := ParseRequest(frame, &h)
			if err != nil {
				t.Fatal(err)
			}
			if h.Key != tc.req.Key() || h.Version != tc.req.GetVersion() || h.CorrelationID != int32(i+100) ||
				h.ClientID != "client-"+tc.name || h.Flexible != tc.req.IsFlexible() {
				t.Fatalf("header %+v", h)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tc.req)) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, tc.req)
			}
			if a, b := tc.req.AppendTo(nil), got.AppendTo(nil); !bytes.Equal(a, b) {
				t.Fatal("re-encoded body differs")
			}
		})
	}
}

// normalize re-encodes and decodes req so that nil and empty slices compare
// equal.
func normalize(req kmsg.Request) kmsg.Request {
	out := kmsg.RequestForKey(req.Key())
	out.SetVersion(req.GetVersion())
	if err := out.ReadFrom(req.AppendTo(nil)); err != nil {
		panic(err)
	}
	return out
}

// TestProduceRecordsAliasFrame documents why frames are never reused: kmsg
// keeps Produce records as a sub-slice of the frame.
func TestProduceRecordsAliasFrame(t *testing.T) {
	frame := frameOf(t, produceRequest16KiB(9), 1, kmsg.StringPtr("c"))
	var h Header
	req, err := ParseRequest(frame, &h)
	if err != nil {
		t.Fatal(err)
	}
	recs := req.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records
	start := uintptr(unsafe.Pointer(unsafe.SliceData(frame)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(recs)))
	if p < start || p >= start+uintptr(len(frame)) {
		t.Fatal("records do not alias the frame; the aliasing note in doc.go is stale")
	}
}

func TestParseHeaderKeepsClientIDString(t *testing.T) {
	r1 := kmsg.NewPtrMetadataRequest()
	r1.Version = 9
	f1 := frameOf(t, r1, 1, kmsg.StringPtr("same-client"))
	f2 := frameOf(t, r1, 2, kmsg.StringPtr("same-client"))
	f3 := frameOf(t, r1, 3, kmsg.StringPtr("other"))

	var h Header
	if _, _, err := ParseHeader(f1, &h); err != nil {
		t.Fatal(err)
	}
	first := unsafe.StringData(h.ClientID)
	if _, _, err := ParseHeader(f2, &h); err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(h.ClientID) != first || h.CorrelationID != 2 {
		t.Fatal("same client id was re-allocated")
	}
	if _, _, err := ParseHeader(f3, &h); err != nil {
		t.Fatal(err)
	}
	if h.ClientID != "other" {
		t.Fatalf("client id %q", h.ClientID)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	be16 := func(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// Metadata v9 is flexible: header v2 with tagged fields.
	flexHead := cat(be16(3), be16(9), be32(7), be16(1), []byte("c"))

	cases := []struct {
		name  string
		frame []byte
		want  error
		key   int16
		corr  int32
	}{
		{"empty", nil, ErrMalformed, 0, 0},
		{"three bytes", []byte{0, 3, 0}, ErrMalformed, 0, 0},
		{"no correlation id", cat(be16(3), be16(1), []byte{0, 0}), ErrMalformed, 3, 0},
		{"no client id length", cat(be16(3), be16(1), be32(7)), ErrMalformed, 3, 0},
		{"client id longer than frame", cat(be16(3), be16(1), be32(7), be16(10), []byte("abc")), ErrMalformed, 3, 7},
		{"unknown key", cat(be16(30000), be16(0), be32(7), be16(-1)), ErrUnknownKey, 30000, 7},
		{"negative key", cat(be16(-1), be16(0), be32(7), be16(-1)), ErrUnknownKey, -1, 7},
		{"flexible without tags", flexHead, ErrMalformed, 3, 7},
		{"tag count without tags", cat(flexHead, []byte{2, 0, 0}), ErrMalformed, 3, 7},
		{"tag longer than frame", cat(flexHead, []byte{1, 0, 9, 1, 2}), ErrMalformed, 3, 7},
		{"varint too long", cat(flexHead, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), ErrMalformed, 3, 7},
		{"varint over 32 bits", cat(flexHead, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}), ErrMalformed, 3, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			_, _, err := ParseHeader(tc.frame, &h)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Key != tc.key || re.CorrelationID != tc.corr {
				t.Fatalf("request error %+v", re)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") {
				t.Fatalf("message %q", err)
			}
		})
	}

	t.Run("skipped tags", func(t *testing.T) {
		body := kmsg.NewPtrMetadataRequest()
		body.Version = 9
		frame := cat(flexHead, []byte{2, 0, 3, 'a', 'b', 'c', 5, 0}, body.AppendTo(nil))
		var h Header
		req, err := ParseRequest(frame, &h)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := req.(*kmsg.MetadataRequest); !ok || !h.Flexible || h.ClientID != "c" {
			t.Fatalf("got %T %+v", req, h)
		}
	})
}

func TestDecodeBodyErrors(t *testing.T) {
	t.Run("version above kmsg", func(t *testing.T) {
		req := kmsg.NewPtrProduceRequest()
		req.Version = req.MaxVersion() + 1
		frame := frameOf(t, req, 9, nil)
		var h Header
		r, body, err := ParseHeader(frame, &h)
		if err != nil {
			t.Fatal(err)
		}
		err = DecodeBody(r, body)
		var re *RequestError
		if !errors.Is(err, ErrUnsupportedVersion) || !errors.As(err, &re) || re.Version != req.Version {
			t.Fatalf("err %v", err)
		}
		// ParseRequest fills the correlation id in.
		if _, err := ParseRequest(frame, &h); !errors.As(err, &re) || re.CorrelationID != 9 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("negative version", func(t *testing.T) {
		req := kmsg.NewPtrMetadataRequest()
		frame := frameOf(t, req, 1, nil)
		binary.BigEndian.PutUint16(frame[2:], 0xffff)
		var h Header
		if _, err := ParseRequest(frame, &h); !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("future ApiVersions header still parses", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 127
		req.ClientSoftwareName = "x"
		req.ClientSoftwareVersion = "1"
		frame := frameOf(t, req, 4, kmsg.StringPtr("future"))
		var h Header
		r, _, err := ParseHeader(frame, &h)
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 127 || !h.Flexible || h.ClientID != "future" || r.GetVersion() != 127 {
			t.Fatalf("header %+v", h)
		}
	})
	t.Run("truncated body", func(t *testing.T) {
		full := frameOf(t, produceRequest16KiB(9), 1, kmsg.StringPtr("c"))
		for _, cut := range []int{1, 10, 100, 8000, len(full) - 20} {
			var h Header
			_, err := ParseRequest(full[:len(full)-cut], &h)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("cut %d: err %v", cut, err)
			}
		}
	})
}

func TestFrameReader(t *testing.T) {
	sized := func(frames ...[]byte) []byte {
		var out []byte
		for _, f := range frames {
			out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
		return out
	}
	t.Run("frames then clean EOF", func(t *testing.T) {
		a, b := []byte("first frame"), bytes.Repeat([]byte{7}, 5000)
		fr := NewFrameReader(bytes.NewReader(sized(a, nil, b)), 1<<20)
		for i, want := range [][]byte{a, {}, b} {
			got, err := fr.Next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
			}
		}
		if _, err := fr.Next(); err != io.EOF {
			t.Fatalf("err %v, want io.EOF", err)
		}
	})
	t.Run("EOF inside size", func(t *testing.T) {
		fr := NewFrameReader(bytes.NewReader([]byte{0, 0}), 100)
		if _, err := fr.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("EOF inside frame", func(t *testing.T) {
		stream := sized([]byte("0123456789"))
		fr := NewFrameReader(bytes.NewReader(stream[:8]), 100)
		if _, err := fr.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err %v", err)
		}
	})
	for _, tc := range []struct {
		name string
		size uint32
		want int64
	}{
		{"one over max", 101, 101},
		{"2 GiB", 1 << 31, -(1 << 31)},
		{"minus one", 0xffffffff, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, tc.size)), 100)
			_, err := fr.Next()
			var fe *FrameSizeError
			if !errors.Is(err, ErrRequestTooLarge) || !errors.As(err, &fe) || fe.Size != tc.want || fe.Max != 100 {
				t.Fatalf("err %v", err)
			}
		})
	}
	t.Run("exactly max", func(t *testing.T) {
		fr := NewFrameReader(bytes.NewReader(sized(make([]byte, 100))), 100)
		if f, err := fr.Next(); err != nil || len(f) != 100 {
			t.Fatalf("%d bytes, %v", len(f), err)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("boom")
		fr := NewFrameReader(io.MultiReader(bytes.NewReader([]byte{0, 0, 0, 5, 1}), errReader{boom}), 100)
		if _, err := fr.Next(); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestAppendResponse(t *testing.T) {
	apiVersions := func(v int16) kmsg.Response {
		r := kmsg.NewPtrApiVersionsResponse()
		r.Version = v
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MaxVersion = 18, 4
		r.ApiKeys = append(r.ApiKeys, k)
		return r
	}
	metadata := func(v int16) kmsg.Response {
		r := kmsg.NewPtrMetadataResponse()
		r.Version = v
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 1, "127.0.0.1", 9092
		r.Brokers = append(r.Brokers, b)
		return r
	}
	cases := []struct {
		resp    kmsg.Response
		tagByte bool
	}{
		{apiVersions(0), false},
		{apiVersions(3), false}, // flexible, but header v0
		{apiVersions(4), false},
		{metadata(1), false},
		{metadata(9), true},
		{metadata(12), true},
	}
	buf := []byte("garbage before")
	for _, tc := range cases {
		name := fmt.Sprintf("%s v%d", kmsg.NameForKey(tc.resp.Key()), tc.resp.GetVersion())
		prefix := len(buf)
		buf = AppendResponse(buf, 0x01020304, tc.resp)
		frame := buf[prefix:]
		size := binary.BigEndian.Uint32(frame)
		if int(size) != len(frame)-4 {
			t.Fatalf("%s: size %d, frame %d", name, size, len(frame))
		}
		if corr := binary.BigEndian.Uint32(frame[4:]); corr != 0x01020304 {
			t.Fatalf("%s: correlation id %x", name, corr)
		}
		body := tc.resp.AppendTo(nil)
		hdr := 8
		if tc.tagByte {
			if frame[8] != 0 {
				t.Fatalf("%s: tag byte %x", name, frame[8])
			}
			hdr = 9
		}
		if !bytes.Equal(frame[hdr:], body) {
			t.Fatalf("%s: body differs", name)
		}
		back := tc.resp.RequestKind().ResponseKind()
		back.SetVersion(tc.resp.GetVersion())
		corr, err := ParseResponse(frame[4:], back)
		if err != nil || corr != 0x01020304 || !bytes.Equal(back.AppendTo(nil), body) {
			t.Fatalf("%s: parse back: corr %x err %v", name, corr, err)
		}
	}
	if !bytes.HasPrefix(buf, []byte("garbage before")) {
		t.Fatal("AppendResponse overwrote dst")
	}
	if _, err := ParseResponse([]byte{1, 2}, metadata(9)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short response: %v", err)
	}
}

// TestAppendResponseNoAllocs: encoding into a buffer with room allocates
// nothing beyond what kmsg's AppendTo does (nothing, for these types).
func TestAppendResponseNoAllocs(t *testing.T) {
	resp := produceResponse(9)
	buf := AppendResponse(nil, 1, resp)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendResponse(buf[:0], 1, resp)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per response", allocs)
	}
}

func produceResponse(v int16) *kmsg.ProduceResponse {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = v
	topic := kmsg.NewProduceResponseTopic()
	topic.Topic = "bench-topic"
	part := kmsg.NewProduceResponseTopicPartition()
	part.Partition = 3
	part.BaseOffset = 123456
	part.LogStartOffset = 0
	topic.Partitions = append(topic.Partitions, part)
	resp.Topics = append(resp.Topics, topic)
	return resp
}
