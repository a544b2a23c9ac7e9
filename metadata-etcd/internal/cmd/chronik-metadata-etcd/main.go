// Command chronik-metadata-etcd serves the etcd backend as a chronik
// metadata plugin (plugins.Serve). The chronik binary serves the same
// Factory as its built-in etcd plugin; this main exists for the module's
// own plugin-mode tests.
package main

import (
	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/plugins"
)

func main() { plugins.Serve(etcdmeta.Factory) }
