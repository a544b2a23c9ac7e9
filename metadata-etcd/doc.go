// Package etcdmeta will implement metadata.Backend on go.etcd.io/etcd/client/v3
// against an existing etcd cluster. It is built in a later issue; this module
// exists so the workspace has its final shape.
package etcdmeta

import "github.com/chronik-go/chronik/plugins/metadata"

// Capabilities the etcd backend will declare.
var Capabilities = []metadata.Capability{
	metadata.CapPersistence, metadata.CapMultiNode, metadata.CapFailover, metadata.CapCompact,
}
