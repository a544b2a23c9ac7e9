package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18): versions 0-4.
//
// Behaviour, as Kafka's:
//   - Lists every API of the broker's registry with its version range, in
//     key order, so a version is advertised exactly when an API file
//     registers it — with Kafka 4.0's one exception: Produce is listed
//     from v0 although v0-2 are refused (KAFKA-18659; old librdkafka
//     will not compress otherwise).
//   - A version outside 0-4 (a newer client) gets a v0 response with
//     UNSUPPORTED_VERSION listing only ApiVersions and its range; the body
//     is not decoded. The client retries at our highest version (KIP-511).
//   - v3+: ClientSoftwareName and ClientSoftwareVersion must match
//     [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? or the answer is
//     INVALID_REQUEST with no api list, as Kafka answers (KIP-511).
//   - The response header is always v0, even for flexible versions (the
//     wire package handles that).
//
// Version notes: v1 adds ThrottleMillis (always 0); v3 is flexible and adds
// the client software fields and the feature lists (empty: no features are
// finalized); v4 only fixes SupportedFeatures' min version. v5 (KIP-1242,
// cluster and node id checks) is not served.

func init() {
	Register(API{
		Key:                        18,
		MinVersion:                 0,
		MaxVersion:                 4,
		Handle:                     handleAPIVersions,
		AnswersUnsupportedVersions: true,
	})
}

func handleAPIVersions(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.ApiVersionsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: ApiVersions handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	reg := b.APIs()

	// Our own range comes from the registry the broker serves, so a
	// registry built with a narrower ApiVersions range answers for it.
	self, ok := reg.Lookup(18)
	if !ok || !self.Supports(r.Header.Version) {
		if !ok {
			self = API{Key: 18, MinVersion: 0, MaxVersion: 4}
		}
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey = 18
		key.MinVersion = self.MinVersion
		key.MaxVersion = self.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, key)
		return resp, nil
	}

	if req.Version >= 3 {
		if !validSoftwareField(req.ClientSoftwareName) || !validSoftwareField(req.ClientSoftwareVersion) {
			r.Logger.Debug("invalid client software in ApiVersions",
				"client_id", r.Header.ClientID,
				"software_name", req.ClientSoftwareName,
				"software_version", req.ClientSoftwareVersion)
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		r.Logger.Debug("client software",
			"client_id", r.Header.ClientID,
			"software_name", req.ClientSoftwareName,
			"software_version", req.ClientSoftwareVersion)
	}

	apis := reg.APIs()
	resp.ApiKeys = make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for _, api := range apis {
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey = api.Key
		key.MinVersion = api.MinVersion
		if api.Key == 0 {
			// As Kafka 4.0 (KAFKA-18659): Produce is advertised from v0
			// although v0-2 requests are still refused, because
			// librdkafka before 2.8 only compresses with gzip, snappy or
			// lz4 when the broker lists Produce v0 (librdkafka#4956).
			key.MinVersion = 0
		}
		key.MaxVersion = api.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, key)
	}
	return resp, nil
}

// validSoftwareField reports whether s matches Kafka's pattern for the
// client software name and version: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validSoftwareField(s string) bool {
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
