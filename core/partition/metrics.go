package partition

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Collector is a prometheus.Collector over a Manager's hosted replicas. It
// reads their state when scraped (Manager.Partitions and each partition's
// lock-free accessors), so it costs nothing on the produce and fetch paths.
//
// Series (the per-partition ones are labelled topic and partition, as
// Kafka's kafka.log:type=Log metrics are; one series per hosted replica):
//
//	chronik_partitions                         replicas hosted (open)
//	chronik_partition_leaders                  replicas this broker leads
//	chronik_partitions_offline                 hosted replicas with no leader
//	chronik_partitions_under_replicated        led partitions whose ISR is smaller than their replica set
//	                                           (during a reassignment: than the replicas before it, the
//	                                           replica set minus the adding replicas, as Kafka)
//	chronik_partitions_under_min_isr           led partitions whose ISR is below min.insync.replicas
//	chronik_log_size_bytes{topic,partition}    bytes in the replica's segments
//	chronik_log_start_offset{topic,partition}  first offset kept
//	chronik_log_end_offset{topic,partition}    next offset to append
//	chronik_partition_high_watermark{topic,partition}
//	chronik_partition_leader{topic,partition}  1 when this broker leads it
//	chronik_partition_leader_epoch{topic,partition}
//	chronik_log_dir_size_bytes, chronik_log_dir_usable_bytes  the data directory's file system
//
// Collect is safe for concurrent use and with the Manager's own work; a
// replica closed or deleted during a scrape is left out.
type Collector struct {
	m *Manager

	partitions, leaders, offline, underReplicated, underMinISR *prometheus.Desc

	size, start, end, hw, leader, leaderEpoch *prometheus.Desc
	dirSize, dirUsable                        *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector over m's replicas. Register it once per
// registry.
func NewCollector(m *Manager) *Collector {
	part := []string{"topic", "partition"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("chronik_"+name, help, labels, nil)
	}
	return &Collector{
		m:               m,
		partitions:      desc("partitions", "Partition replicas this broker hosts.", nil),
		leaders:         desc("partition_leaders", "Partition replicas this broker leads.", nil),
		offline:         desc("partitions_offline", "Hosted partition replicas whose partition has no leader.", nil),
		underReplicated: desc("partitions_under_replicated", "Partitions this broker leads whose in-sync replica set is smaller than their replica set.", nil),
		underMinISR:     desc("partitions_under_min_isr", "Partitions this broker leads whose in-sync replica set is smaller than min.insync.replicas (acks=all produce is refused).", nil),
		size:            desc("log_size_bytes", "Bytes in the replica's log segments.", part),
		start:           desc("log_start_offset", "The replica's log start offset (first offset kept).", part),
		end:             desc("log_end_offset", "The replica's log end offset (next offset to append).", part),
		hw:              desc("partition_high_watermark", "The replica's high watermark (offsets below it are committed and readable).", part),
		leader:          desc("partition_leader", "1 when this broker leads the partition, else 0.", part),
		leaderEpoch:     desc("partition_leader_epoch", "The partition's leader epoch as this broker applied it.", part),
		dirSize:         desc("log_dir_size_bytes", "Size of the file system holding the data directory.", nil),
		dirUsable:       desc("log_dir_usable_bytes", "Space usable by the broker on the file system holding the data directory.", nil),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.partitions, c.leaders, c.offline, c.underReplicated, c.underMinISR,
		c.size, c.start, c.end, c.hw, c.leader, c.leaderEpoch, c.dirSize, c.dirUsable} {
		ch <- d
	}
}

// Collect reads every hosted replica's state.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var hosted, leaders, offline, underReplicated, underMinISR int
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	img, _ := c.m.cl.Current()
	for _, p := range c.m.Partitions() {
		st := p.State()
		if st.Closed {
			continue
		}
		hosted++
		lead := 0.0
		if st.Leader {
			lead = 1
			leaders++
			if len(st.ISR) < replicationFactor(img, p, st.Replicas) {
				underReplicated++
			}
			if len(st.ISR) < st.Config.MinInsyncReplicas {
				underMinISR++
			}
		}
		if st.LeaderID == metadata.NoLeader {
			offline++
		}
		labels := []string{p.Topic(), strconv.Itoa(int(p.Index()))}
		gauge(c.size, float64(p.Size()), labels...)
		gauge(c.start, float64(p.LogStartOffset()), labels...)
		gauge(c.end, float64(p.LogEndOffset()), labels...)
		gauge(c.hw, float64(p.HighWatermark()), labels...)
		gauge(c.leader, lead, labels...)
		gauge(c.leaderEpoch, float64(st.LeaderEpoch), labels...)
	}
	gauge(c.partitions, float64(hosted))
	gauge(c.leaders, float64(leaders))
	gauge(c.offline, float64(offline))
	gauge(c.underReplicated, float64(underReplicated))
	gauge(c.underMinISR, float64(underMinISR))
	if total, usable, ok := c.m.DiskUsage(); ok {
		gauge(c.dirSize, float64(total))
		gauge(c.dirUsable, float64(usable))
	}
}

// replicationFactor is the replica count a led partition's ISR is compared
// with: its replica set, minus the replicas a reassignment in progress (as
// img has it) is adding, which are not expected in the ISR yet (Kafka's
// OngoingReassignmentState.replicationFactor).
func replicationFactor(img *cluster.Image, p *Partition, replicas []int32) int {
	n := len(replicas)
	if img == nil {
		return n
	}
	if part, ok := img.Partition(p.Topic(), p.Index()); ok {
		for _, id := range part.Adding {
			if slices.Contains(replicas, id) {
				n--
			}
		}
	}
	return n
}
