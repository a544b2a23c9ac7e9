// Command chronik-metadata-memory is a chronik metadata plugin serving the
// in-memory reference backend. It is the template for a third-party
// backend: copy this file and replace memory.Factory with your own
// plugins.Factory (name, version, capabilities and a New that builds your
// metadata.Backend from its metadata.Config).
//
// Build it and point chronik or the conformance CLI at it:
//
//	go build -o chronik-metadata-memory ./plugins/examples/chronik-metadata-memory
//	chronik-conformance --plugin ./chronik-metadata-memory
//	chronik --metadata=memory --plugin-dir .
//
// It is started by a chronik host (go-plugin handshake); run by hand it
// explains that and exits. The memory backend keeps its state in memory,
// between plugin processes over plaintext gRPC: for tests, not production.
package main

import (
	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/memory"
)

func main() {
	plugins.Serve(memory.Factory)
}
