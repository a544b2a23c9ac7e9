package raftmeta

import (
	"fmt"
	"testing"

	"github.com/chronik-go/chronik/conformance"
)

func TestConformance(t *testing.T) {
	for _, nodes := range []int{1, 3, 5} {
		for _, mode := range []string{"direct", "grpc"} {
			t.Run(fmt.Sprintf("%dnodes/%s", nodes, mode), func(t *testing.T) {
				var h conformance.Harness = raftHarness{}
				if mode == "grpc" {
					h = conformance.GRPCHarness(h)
				}
				cfg := conformance.DefaultConfig()
				cfg.Nodes = nodes
				conformance.RunConfig(t, h, cfg)
			})
		}
	}
}
