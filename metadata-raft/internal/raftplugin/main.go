// Command raftplugin is the Raft metadata backend as a standalone plugin
// executable (chronik-metadata-raft), for the plugin-mode conformance test
// of this module. chronik itself serves raftmeta.Factory from a hidden
// subcommand of its own binary.
package main

import (
	"github.com/chronik-go/chronik/plugins"

	raftmeta "github.com/chronik-go/chronik/metadata-raft"
)

func main() { plugins.Serve(raftmeta.Factory) }
