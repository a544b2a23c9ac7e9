package cluster

import (
	"crypto/rand"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// randomUUID returns a random (version 4, RFC 4122 variant) UUID that Kafka
// accepts as a topic id: not zero, not Kafka's reserved metadata topic id
// (0, 1), and not one whose base64 form starts with '-' (Kafka's
// Uuid.randomUuid rejects those, as tools mistake them for flags). The
// version and variant bits already exclude the first two; the loop excludes
// the third.
func randomUUID() metadata.TopicID {
	for {
		var id metadata.TopicID
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+).
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		// URL-safe base64 maps the top six bits 62 to '-'.
		if id[0]>>2 != 62 {
			return id
		}
	}
}
