// Package raftmeta will implement metadata.Backend on hashicorp/raft with an
// on-disk log store: the embedded default backend of chronik. It is built in
// a later issue; this module exists so the workspace has its final shape.
package raftmeta

import "github.com/chronik-go/chronik/plugins/metadata"

// Capabilities the Raft backend will declare.
var Capabilities = []metadata.Capability{
	metadata.CapPersistence, metadata.CapMultiNode, metadata.CapFailover, metadata.CapCompact,
}
