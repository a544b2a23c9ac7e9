package protocol

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/wire"
)

// apiVersionsCall sends req through the wire codec both ways, as the server
// does: client-encoded frame, header parse, body decode (skipped for
// versions the registry does not serve), handler, response frame, and the
// client-side parse of the response at the version the client expects
// (kgo reads v0 when the error code says UNSUPPORTED_VERSION).
func apiVersionsCall(t *testing.T, b *Broker, req *kmsg.ApiVersionsRequest) *kmsg.ApiVersionsResponse {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, 42)[4:]
	var h wire.Header
	body, rest, err := wire.ParseHeader(frame, &h)
	if err != nil {
		t.Fatal(err)
	}
	api, ok := b.APIs().Lookup(h.Key)
	if !ok {
		t.Fatal("ApiVersions not registered")
	}
	if api.Supports(h.Version) {
		if err := wire.DecodeBody(body, rest); err != nil {
			t.Fatal(err)
		}
	} else if !api.AnswersUnsupportedVersions {
		t.Fatal("ApiVersions does not answer unsupported versions")
	}
	r := &Request{Header: h, Body: body, RemoteAddr: &net.TCPAddr{}, Logger: slog.New(slog.DiscardHandler)}
	resp, err := api.Handle(context.Background(), b, r)
	if err != nil || resp == nil {
		t.Fatalf("handler: %v, %v", resp, err)
	}
	out := wire.AppendResponse(nil, h.CorrelationID, resp)

	// Client side: the response header is v0; the body is read at the
	// request's version unless the error is UNSUPPORTED_VERSION (v0).
	got := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if len(out) >= 10 && out[8] == 0 && out[9] == byte(kerr.UnsupportedVersion.Code) {
		got.Version = 0
	}
	corr, err := wire.ParseResponse(out[4:], got)
	if err != nil || corr != 42 {
		t.Fatalf("response: corr %d, %v", corr, err)
	}
	return got
}

func testBroker() *Broker {
	reg := NewRegistry()
	av, _ := Lookup(18)
	reg.Register(av)
	reg.Register(API{Key: 3, MinVersion: 1, MaxVersion: 12, Handle: nopHandler})
	reg.Register(API{Key: 0, MinVersion: 3, MaxVersion: 11, Handle: nopHandler})
	return &Broker{NodeID: 1, Logger: slog.New(slog.DiscardHandler), Registry: reg}
}

func TestAPIVersionsListsRegistry(t *testing.T) {
	b := testBroker()
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "kgo", "1.22.3"
		resp := apiVersionsCall(t, b, req)
		if resp.Version != v || resp.ErrorCode != 0 || resp.ThrottleMillis != 0 {
			t.Fatalf("v%d: version %d error %d", v, resp.Version, resp.ErrorCode)
		}
		want := []kmsg.ApiVersionsResponseApiKey{
			// Produce from v0 although the registry serves 3+
			// (KAFKA-18659, see handleAPIVersions).
			{ApiKey: 0, MinVersion: 0, MaxVersion: 11},
			{ApiKey: 3, MinVersion: 1, MaxVersion: 12},
			{ApiKey: 18, MinVersion: 0, MaxVersion: 4},
		}
		if len(resp.ApiKeys) != len(want) {
			t.Fatalf("v%d: keys %+v", v, resp.ApiKeys)
		}
		for i, k := range resp.ApiKeys {
			if k.ApiKey != want[i].ApiKey || k.MinVersion != want[i].MinVersion || k.MaxVersion != want[i].MaxVersion {
				t.Fatalf("v%d: key %d = %+v, want %+v", v, i, k, want[i])
			}
		}
	}
}

func TestAPIVersionsDefaultRegistry(t *testing.T) {
	b := &Broker{NodeID: 1}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 4
	req.ClientSoftwareName, req.ClientSoftwareVersion = "chronik-test", "0.1.0"
	resp := apiVersionsCall(t, b, req)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(APIs()) {
		t.Fatalf("error %d keys %+v", resp.ErrorCode, resp.ApiKeys)
	}
}

func TestAPIVersionsUnsupportedVersion(t *testing.T) {
	b := testBroker()
	// 5 is a version kmsg decodes but we do not serve; 127 one nobody
	// knows. Both get Kafka's answer: v0, UNSUPPORTED_VERSION, and only
	// ApiVersions' range so that the client retries at our max.
	for _, v := range []int16{5, 127} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "future-client", "9.9"
		resp := apiVersionsCall(t, b, req)
		if resp.Version != 0 || resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: version %d error %d", v, resp.Version, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion != 4 {
			t.Fatalf("v%d: keys %+v", v, resp.ApiKeys)
		}
		if !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.UnsupportedVersion) {
			t.Fatal("kerr mapping")
		}
	}
}

// TestAPIVersionsNarrowerRange: the advertised and enforced range of
// ApiVersions itself comes from the registry.
func TestAPIVersionsNarrowerRange(t *testing.T) {
	reg := NewRegistry()
	reg.Register(API{Key: 18, MinVersion: 0, MaxVersion: 2, Handle: handleAPIVersions, AnswersUnsupportedVersions: true})
	b := &Broker{Registry: reg}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "a", "b"
	resp := apiVersionsCall(t, b, req)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ApiKeys[0].MaxVersion != 2 {
		t.Fatalf("error %d keys %+v", resp.ErrorCode, resp.ApiKeys)
	}
	req.Version = 2
	resp = apiVersionsCall(t, b, req)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].MaxVersion != 2 {
		t.Fatalf("error %d keys %+v", resp.ErrorCode, resp.ApiKeys)
	}
}

func TestAPIVersionsClientSoftwareValidation(t *testing.T) {
	b := testBroker()
	cases := []struct {
		name, version string
		ok            bool
	}{
		{"apache-kafka-java", "3.7.0", true},
		{"librdkafka", "2.3.0", true},
		{"kgo", "1.22.3-beta.1", true},
		{"a", "1", true},
		{"", "1.0", false},
		{"kgo", "", false},
		{"-kgo", "1.0", false},
		{"kgo-", "1.0", false},
		{"kgo", ".1.0", false},
		{"my client", "1.0", false},
		{"my_client", "1.0", false},
		{"kgo", "1.0+build", false},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = tc.name, tc.version
		resp := apiVersionsCall(t, b, req)
		if tc.ok && (resp.ErrorCode != 0 || len(resp.ApiKeys) != 3) {
			t.Fatalf("%q %q: error %d keys %d", tc.name, tc.version, resp.ErrorCode, len(resp.ApiKeys))
		}
		if !tc.ok && (resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.ApiKeys) != 0 || resp.Version != 3) {
			t.Fatalf("%q %q: error %d keys %d version %d", tc.name, tc.version, resp.ErrorCode, len(resp.ApiKeys), resp.Version)
		}
		// v0-v2 carry no software fields; nothing to validate.
		req.Version = 2
		if resp := apiVersionsCall(t, b, req); resp.ErrorCode != 0 {
			t.Fatalf("v2 %q: error %d", tc.name, resp.ErrorCode)
		}
	}
}

func TestAPIVersionsWrongBody(t *testing.T) {
	_, err := handleAPIVersions(context.Background(), testBroker(), &Request{Body: kmsg.NewPtrMetadataRequest()})
	if err == nil {
		t.Fatal("handler accepted a Metadata body")
	}
}
