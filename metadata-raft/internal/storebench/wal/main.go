// Command wal runs the store benchmark of ../bench on the other candidate
// log store: github.com/hashicorp/raft-wal with hashicorp/raft v1.8.0 (which
// raft-boltdb/v2 v2.3.1 does not build with: raft v1.8.0 pulls go-metrics
// v0.7.0, which dropped the compat package raft-boltdb/v2 imports). It is a
// module of its own, outside the workspace, so these versions stay out of
// metadata-raft's go.mod.
//
//	go run . -mode=bench -dir=/tmp
//	go run . -mode=recover -dir=/tmp -run=3s
package main

import (
	"io"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/chronik-go/chronik/metadata-raft/internal/storebench/bench"
)

func main() { bench.Main(openStore) }

// openStore opens a raft-wal directory; the WAL is both the log and the
// stable store.
func openStore(dir string) (raft.LogStore, raft.StableStore, io.Closer, error) {
	w, err := wal.Open(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	return w, w, w, nil
}
