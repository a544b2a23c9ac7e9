package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultProbeTimeout bounds the backend probe of one scrape
// (NewCollector); it is below Prometheus' default scrape timeout (10 s).
const DefaultProbeTimeout = 2 * time.Second

// restartCounter is implemented by backends that restart themselves, such
// as plugins.Host (the plugin process): how many times they did.
type restartCounter interface {
	Restarts() int
}

// Collector is a prometheus.Collector over a Cluster: this broker's
// registration, its metadata image, and the health of the metadata backend.
// Everything is read when scraped; nothing is recorded on the request path.
//
// Series:
//
//	chronik_metadata_backend_up                  1 when the backend answered Info within the probe timeout
//	chronik_metadata_backend_probe_duration_seconds  how long that probe took
//	chronik_metadata_backend_last_up_timestamp_seconds  Unix time of the last probe answered (absent before one)
//	chronik_metadata_backend_leader_known        1 when the backend names a node ordering writes (Info.Leader)
//	chronik_metadata_backend_members             quorum members the backend reports
//	chronik_metadata_backend_info{backend,version,node}  1, from the last answered probe
//	chronik_metadata_plugin_restarts_total       restarts of the backend's plugin process (when the backend is a plugin host)
//	chronik_metadata_registered                  1 while this broker holds a registered session
//	chronik_metadata_broker_epoch                that session's broker epoch (0 when none)
//	chronik_metadata_last_heartbeat_timestamp_seconds  Unix time of this broker's last successful session heartbeat (absent before one)
//	chronik_broker_ready                         1 when registered and in its own image (/readyz)
//	chronik_metadata_image_revision              revision of the image this broker serves (absent before the first)
//	chronik_metadata_live_brokers                live (unfenced) brokers in the image
//	chronik_metadata_topics                      topics in the image
//
// The probe is one backend Info call per scrape, bounded by the probe
// timeout and by the Cluster's life (after Close it reports down); probes
// of concurrent scrapes are serialized. Collect is safe for concurrent use.
type Collector struct {
	c       *Cluster
	timeout time.Duration

	mu     sync.Mutex // serializes probes; guards lastUp and info
	lastUp time.Time
	info   [3]string // backend, version, node of the last answered probe

	up, probeDur, lastUpTS, leaderKnown, members, backendInfo, restarts *prometheus.Desc
	registered, epoch, lastHB, ready, revision, liveBrokers, topics     *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector over c whose backend probe waits at most
// probeTimeout (DefaultProbeTimeout when <= 0). Register it once per
// registry.
func NewCollector(c *Cluster, probeTimeout time.Duration) *Collector {
	if probeTimeout <= 0 {
		probeTimeout = DefaultProbeTimeout
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("chronik_"+name, help, labels, nil)
	}
	return &Collector{
		c:           c,
		timeout:     probeTimeout,
		up:          desc("metadata_backend_up", "1 when the metadata backend answered an Info call within the probe timeout at this scrape, else 0."),
		probeDur:    desc("metadata_backend_probe_duration_seconds", "Duration of this scrape's metadata backend probe (Info call)."),
		lastUpTS:    desc("metadata_backend_last_up_timestamp_seconds", "Unix time of the last scrape at which the metadata backend answered its probe."),
		leaderKnown: desc("metadata_backend_leader_known", "1 when the metadata backend names a node that orders writes (a Raft leader), else 0."),
		members:     desc("metadata_backend_members", "Members of the metadata backend's quorum as it reports them."),
		backendInfo: desc("metadata_backend_info", "The metadata backend's name, version and this node's id in it, from the last answered probe (value 1).", "backend", "version", "node"),
		restarts:    desc("metadata_plugin_restarts_total", "Times the metadata backend's plugin process was restarted after it died."),
		registered:  desc("metadata_registered", "1 while this broker holds a registered session in the metadata backend, else 0."),
		epoch:       desc("metadata_broker_epoch", "The broker epoch of this broker's registered session (0 when none)."),
		lastHB:      desc("metadata_last_heartbeat_timestamp_seconds", "Unix time of this broker's last successful session heartbeat to the metadata backend."),
		ready:       desc("broker_ready", "1 when this broker is registered and its own registration is in its metadata image (/readyz), else 0."),
		revision:    desc("metadata_image_revision", "Revision of the metadata image this broker answers from."),
		liveBrokers: desc("metadata_live_brokers", "Live (registered, unfenced) brokers in this broker's metadata image."),
		topics:      desc("metadata_topics", "Topics in this broker's metadata image."),
	}
}

// Describe sends every descriptor.
func (m *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.up, m.probeDur, m.lastUpTS, m.leaderKnown, m.members, m.backendInfo,
		m.restarts, m.registered, m.epoch, m.lastHB, m.ready, m.revision, m.liveBrokers, m.topics} {
		ch <- d
	}
}

// Collect probes the backend and reads the registration and the image.
func (m *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	m.mu.Lock()
	ctx, cancel := context.WithTimeout(m.c.base, m.timeout)
	start := time.Now()
	info, err := m.c.backend.Info(ctx)
	took := time.Since(start)
	cancel()
	if err == nil {
		m.lastUp = time.Now()
		m.info = [3]string{info.Name, info.Version, info.NodeID}
	}
	lastUp, lastInfo := m.lastUp, m.info
	m.mu.Unlock()

	gauge(m.up, flag(err == nil))
	gauge(m.probeDur, took.Seconds())
	if !lastUp.IsZero() {
		gauge(m.lastUpTS, float64(lastUp.UnixNano())/1e9)
		gauge(m.backendInfo, 1, lastInfo[:]...)
	}
	if err == nil {
		gauge(m.leaderKnown, flag(info.Leader != ""))
		gauge(m.members, float64(len(info.Members)))
	}
	if rc, ok := m.c.backend.(restartCounter); ok {
		ch <- prometheus.MustNewConstMetric(m.restarts, prometheus.CounterValue, float64(rc.Restarts()))
	}

	epoch, registered := m.c.Epoch()
	gauge(m.registered, flag(registered))
	gauge(m.epoch, float64(epoch))
	if hb := m.c.lastHeartbeat.Load(); hb != 0 {
		gauge(m.lastHB, float64(hb)/1e9)
	}
	gauge(m.ready, flag(m.c.Ready()))
	if img := m.c.Image(); img != nil {
		gauge(m.revision, float64(img.Revision()))
		gauge(m.liveBrokers, float64(len(img.LiveBrokers())))
		gauge(m.topics, float64(len(img.TopicNames())))
	}
}
