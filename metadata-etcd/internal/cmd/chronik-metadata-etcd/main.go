// Command chronik-metadata-etcd serves the etcd backend as a chronik
// metadata plugin (plugins.Serve). The chronik binary serves the same
// Factory as its built-in etcd plugin; this main is a standalone plugin
// executable (what a third-party author would ship), used by the module's
// benchmark.
package main

import (
	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/plugins"
)

func main() { plugins.Serve(etcdmeta.Factory) }
