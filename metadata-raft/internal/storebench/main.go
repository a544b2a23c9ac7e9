// Command storebench measures the Raft log store this module uses
// (hashicorp/raft v1.7.3 + raft-boltdb/v2 v2.3.1) on a single-node Raft:
// commit latency of small sequential Apply calls, throughput of concurrent
// ones, and recovery after SIGKILL (a child process applies in a loop and
// prints every acknowledged index; the parent kills it, reopens the store
// and checks that no acknowledged entry is missing).
//
//	go run ./internal/storebench -mode=bench -dir=/tmp
//	go run ./internal/storebench -mode=recover -dir=/tmp -run=3s
//
// The other candidate, github.com/hashicorp/raft-wal (with raft v1.8.0,
// which raft-boltdb/v2 does not build with), runs the same program
// (package bench) from internal/storebench/wal, a module of its own so that
// its dependencies stay out of this module's go.mod:
//
//	cd internal/storebench/wal && go run . -mode=bench -dir=/tmp
package main

import (
	"io"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/chronik-go/chronik/metadata-raft/internal/storebench/bench"
)

func main() { bench.Main(openStore) }

// openStore opens the BoltDB log and stable store in dir.
func openStore(dir string) (raft.LogStore, raft.StableStore, io.Closer, error) {
	s, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	return s, s, s, nil
}
