package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// ClusterIDLen is the length of a cluster id: 16 bytes in unpadded
// base64url, Kafka's text form of a Uuid.
const ClusterIDLen = 22

// NewClusterID returns a new random cluster id in Kafka's format: a
// version 4 UUID (16 bytes, 122 of them random) as 22 characters of
// unpadded base64url, never starting with '-' (Kafka avoids those: they
// read as options on a command line). Backends call it once, when the
// cluster is formed. Safe for concurrent use.
func NewClusterID() string {
	var u [16]byte
	for {
		if _, err := rand.Read(u[:]); err != nil {
			// crypto/rand never fails on supported platforms.
			panic(fmt.Sprintf("metadata: crypto/rand: %v", err))
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		id := base64.RawURLEncoding.EncodeToString(u[:])
		if id[0] != '-' {
			return id
		}
	}
}

// ValidateClusterID checks that id is a cluster id in Kafka's format: 22
// characters of unpadded base64url that decode to 16 bytes (any 16 bytes:
// ids made by Kafka's tools are accepted too, even with the unused low
// bits of the last character set, as Java's decoder accepts them), not all
// zero. The error wraps ErrInvalid.
func ValidateClusterID(id string) error {
	if len(id) != ClusterIDLen {
		return fmt.Errorf("metadata: cluster id %q: %d characters, want %d: %w", id, len(id), ClusterIDLen, ErrInvalid)
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return fmt.Errorf("metadata: cluster id %q: not unpadded base64url: %v: %w", id, err, ErrInvalid)
	}
	if len(b) != 16 || [16]byte(b) == [16]byte{} {
		return fmt.Errorf("metadata: cluster id %q: zero or not 16 bytes: %w", id, ErrInvalid)
	}
	return nil
}
