package etcdmeta_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/conformance"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
)

// etcdServers are the etcd server releases chronik is tested against
// besides the embedded one of go.mod (3.7): each a module of its own under
// internal/etcdservers whose main is etcd's, pinned to the newest patch
// release of its series.
var etcdServers = []struct{ dir, series string }{
	{"etcd-3.5", "3.5."},
	{"etcd-3.6", "3.6."},
}

// TestConformanceServerVersions runs the conformance suite (direct mode)
// on clusters of real etcd server processes of each release in
// etcdServers, built from the Go module proxy (etcdtest.BuildServer), and
// checks that every member reports that release.
func TestConformanceServerVersions(t *testing.T) {
	for _, s := range etcdServers {
		t.Run(s.dir, func(t *testing.T) {
			bin := etcdtest.BuildServer(t, filepath.Join("internal", "etcdservers", s.dir))
			h := directHarness(t)
			h.pool.binary = bin
			start := time.Now()
			conformance.Run(t, h)
			t.Logf("conformance suite on %s: %v", s.dir, time.Since(start).Round(time.Millisecond))
			checkServerVersions(t, h.pool, s.series)
		})
	}
}

// checkServerVersions: the pool ran a 3-member cluster, and every member
// of each of its clusters is a server of the series.
func checkServerVersions(t *testing.T, p *etcdPool, series string) {
	t.Helper()
	p.mu.Lock()
	clusters := p.clusters
	p.mu.Unlock()
	if clusters[3] == nil {
		t.Fatalf("the suite started no 3-member cluster (%d clusters)", len(clusters))
	}
	for n, ec := range clusters {
		cli := ec.Client()
		for _, ep := range ec.Endpoints() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := cli.Status(ctx, ep)
			cancel()
			if err != nil {
				t.Fatalf("status of %s (cluster of %d): %v", ep, n, err)
			}
			if !strings.HasPrefix(st.Version, series) {
				t.Errorf("member %s of the cluster of %d runs etcd %s, want %sx", ep, n, st.Version, series)
			}
			t.Logf("cluster of %d, member %s: etcd %s", n, ep, st.Version)
		}
	}
}
