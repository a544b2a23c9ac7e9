// Command etcd-3.6 is etcd's own server, release 3.6.x (the version
// pinned in go.mod), built from the Go module proxy: its main is etcd's
// (go.etcd.io/etcd/server/v3/etcdmain). metadata-etcd's tests build it and
// run the conformance suite against a cluster of it
// (server_versions_test.go). It is a module of its own, outside the
// workspace, so that this etcd release and its dependencies stay out of
// metadata-etcd's go.mod:
//
//	cd metadata-etcd/internal/etcdservers/etcd-3.6 && GOWORK=off go build -o etcd .
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
