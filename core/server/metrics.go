package server

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/protocol"
)

// Reasons a connection closed, the values of the reason label of
// chronik_connections_closed_total.
const (
	reasonClient             = "client_closed"
	reasonReadError          = "read_error"
	reasonWriteError         = "write_error"
	reasonIdle               = "idle"
	reasonShutdown           = "shutdown"
	reasonTooLarge           = "request_too_large"
	reasonMalformed          = "malformed_request"
	reasonUnknownAPI         = "unsupported_api"
	reasonUnsupportedVersion = "unsupported_version"
	reasonHandlerError       = "handler_error"
	reasonHandlerPanic       = "handler_panic"
)

var allReasons = []string{
	reasonClient, reasonReadError, reasonWriteError, reasonIdle, reasonShutdown, reasonTooLarge,
	reasonMalformed, reasonUnknownAPI, reasonUnsupportedVersion, reasonHandlerError, reasonHandlerPanic,
}

// metrics are the server's collectors. They always exist (incrementing an
// unregistered collector is harmless), so the hot path has no nil checks;
// they are registered only when Config.Metrics is set.
type metrics struct {
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	open        prometheus.Gauge
	accepted    prometheus.Counter
	rejected    prometheus.Counter
	closed      *prometheus.CounterVec
	collectors  []prometheus.Collector
	byKey       []*apiMetrics // indexed by api key, for registered keys
	closeByName map[string]prometheus.Counter
}

// apiMetrics are one API's label children, resolved once.
type apiMetrics struct {
	requests prometheus.Counter
	errors   prometheus.Counter
	latency  prometheus.Observer
}

func newMetrics(apis []protocol.API) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chronik", Name: "requests_total",
			Help: "Requests received, by Kafka API.",
		}, []string{"api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chronik", Name: "request_errors_total",
			Help: "Requests whose handler failed (Go error or panic), closing their connection, by Kafka API. Kafka error codes in responses are not counted.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "chronik", Name: "request_duration_seconds",
			Help:    "Time from a request being read to its response being ready (including deferred waits such as long-polling), by Kafka API.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chronik", Name: "received_bytes_total",
			Help: "Bytes read from client connections.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chronik", Name: "sent_bytes_total",
			Help: "Bytes written to client connections.",
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "chronik", Name: "open_connections",
			Help: "Client connections currently open.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chronik", Name: "connections_accepted_total",
			Help: "Client connections accepted.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chronik", Name: "connections_rejected_total",
			Help: "Client connections closed at accept because MaxConnections were open.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chronik", Name: "connections_closed_total",
			Help: "Client connections closed, by reason.",
		}, []string{"reason"}),
		closeByName: make(map[string]prometheus.Counter, len(allReasons)),
	}
	m.collectors = []prometheus.Collector{m.requests, m.errors, m.latency, m.bytesIn, m.bytesOut, m.open, m.accepted, m.rejected, m.closed}
	for _, api := range apis {
		if int(api.Key) >= len(m.byKey) {
			m.byKey = append(m.byKey, make([]*apiMetrics, int(api.Key)+1-len(m.byKey))...)
		}
		m.byKey[api.Key] = m.newAPIMetrics(api.Key)
	}
	for _, r := range allReasons {
		m.closeByName[r] = m.closed.WithLabelValues(r)
	}
	return m
}

func (m *metrics) newAPIMetrics(key int16) *apiMetrics {
	name := kmsg.NameForKey(key)
	if name == "" {
		name = strconv.Itoa(int(key))
	}
	return &apiMetrics{
		requests: m.requests.WithLabelValues(name),
		errors:   m.errors.WithLabelValues(name),
		latency:  m.latency.WithLabelValues(name),
	}
}

// api returns key's children; keys registered after New take the slower
// label lookup.
func (m *metrics) api(key int16) *apiMetrics {
	if key >= 0 && int(key) < len(m.byKey) && m.byKey[key] != nil {
		return m.byKey[key]
	}
	return m.newAPIMetrics(key)
}

func (m *metrics) connClosed(reason string) {
	m.open.Dec()
	if c, ok := m.closeByName[reason]; ok {
		c.Inc()
		return
	}
	m.closed.WithLabelValues(reason).Inc()
}

func (m *metrics) register(r prometheus.Registerer) error {
	for i, c := range m.collectors {
		if err := r.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				r.Unregister(done)
			}
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return fmt.Errorf("server: registering metrics (another server uses this registry): %w", err)
			}
			return fmt.Errorf("server: registering metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors {
		r.Unregister(c)
	}
}
