package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a parsed request header (v1, or v2 for flexible versions).
type Header struct {
	// Key is the api key (0 Produce, 1 Fetch, 18 ApiVersions, ...).
	Key int16
	// Version is the api version the client sent; it may be one kmsg
	// cannot decode (see DecodeBody).
	Version int16
	// CorrelationID is echoed in the response.
	CorrelationID int32
	// ClientID is the client id; a null client id is "" (as in Kafka).
	ClientID string
	// Flexible reports header v2 (the request version is flexible).
	Flexible bool
}

// ParseHeader parses the request header at the start of frame into h and
// returns an empty kmsg request for h.Key with its version set to h.Version,
// ready for DecodeBody, and the body bytes that follow the header.
//
// If h.ClientID already holds the client id in frame it is kept without
// allocating: pass the previous header of the same connection to avoid a
// string allocation per request. Every other field is overwritten.
//
// Errors (as *RequestError, with the header fields parsed so far):
// ErrUnknownKey when kmsg knows no request for the key; ErrMalformed when the
// header is truncated or its tagged fields do not parse. ParseHeader does not
// check the version; DecodeBody does.
func ParseHeader(frame []byte, h *Header) (kmsg.Request, []byte, error) {
	h.Key, h.Version, h.CorrelationID, h.Flexible = 0, 0, 0, false
	if len(frame) < 4 {
		return nil, nil, newRequestError(h, fmt.Errorf("%w: %d-byte frame has no api key and version", ErrMalformed, len(frame)))
	}
	h.Key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	if len(frame) < 10 {
		return nil, nil, newRequestError(h, fmt.Errorf("%w: %d-byte frame has no correlation id and client id", ErrMalformed, len(frame)))
	}
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	rest := frame[10:]
	switch n := int16(binary.BigEndian.Uint16(frame[8:])); {
	case n < 0:
		h.ClientID = ""
	case int(n) > len(rest):
		return nil, nil, newRequestError(h, fmt.Errorf("%w: client id of %d bytes, %d left in frame", ErrMalformed, n, len(rest)))
	default:
		if id := rest[:n]; h.ClientID != string(id) {
			h.ClientID = string(id)
		}
		rest = rest[n:]
	}

	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return nil, nil, newRequestError(h, ErrUnknownKey)
	}
	req.SetVersion(h.Version)
	// kmsg's IsFlexible compares the version with the first flexible
	// version, so it also answers for versions above the ones kmsg
	// decodes: an ApiVersions request of a future version still has its
	// header parsed the way its sender wrote it.
	h.Flexible = req.IsFlexible()
	if h.Flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return nil, nil, newRequestError(h, fmt.Errorf("%w: header tagged fields: %w", ErrMalformed, err))
		}
	}
	return req, rest, nil
}

// skipTags skips a tagged-field section: uvarint count, then per field
// uvarint tag, uvarint size and size bytes.
func skipTags(b []byte) ([]byte, error) {
	count, b, err := uvarint32(b)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	for i := uint32(0); i < count; i++ {
		if _, b, err = uvarint32(b); err != nil {
			return nil, fmt.Errorf("tag %d of %d: %w", i, count, err)
		}
		var size uint32
		if size, b, err = uvarint32(b); err != nil {
			return nil, fmt.Errorf("size of tag %d of %d: %w", i, count, err)
		}
		if uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("tag %d of %d has %d bytes, %d left", i, count, size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

// uvarint32 reads an unsigned varint of at most 5 bytes that fits 32 bits.
func uvarint32(b []byte) (uint32, []byte, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, nil, fmt.Errorf("truncated varint")
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, nil, fmt.Errorf("varint overflows 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, b[i+1:], nil
		}
	}
	return 0, nil, fmt.Errorf("varint overflows 32 bits")
}
