package raftmeta

import (
	"context"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Factory builds Raft nodes for plugins.Serve: chronik serves it from a
// hidden subcommand of its own binary as the built-in "raft" plugin, and a
// standalone plugin main is just
//
//	func main() { plugins.Serve(raftmeta.Factory) }
//
// New opens a Node (see Open) logging to plugins.Logger(ctx).
var Factory = plugins.Factory{
	Name:         Name,
	Version:      Version,
	Capabilities: Capabilities,
	New: func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
		return Open(ctx, cfg, plugins.Logger(ctx))
	},
}
