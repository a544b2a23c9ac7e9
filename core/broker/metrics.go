package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
)

// stateCollectors returns the collectors that read the broker's live state
// when /metrics is scraped (nothing is recorded per request): the hosted
// partitions and their logs (partition.Collector) and the metadata backend,
// registration and image (cluster.Collector). The request, latency and
// byte counters are core/server's. Call after Start built the parts; the
// caller registers them once on b.reg.
func (b *Broker) stateCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		partition.NewCollector(b.parts),
		cluster.NewCollector(b.cluster, cluster.DefaultProbeTimeout),
	}
}
