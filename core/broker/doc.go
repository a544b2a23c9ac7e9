// Package broker assembles one chronik broker from its parts: the Kafka
// listener (core/server) serving the API handlers (core/protocol), the
// watch-fed metadata image and registration loop (core/cluster) over a
// metadata backend, the partition replicas (core/partition), and an HTTP
// port with Prometheus /metrics, /healthz and /readyz.
//
//	b, err := broker.New(cfg, backend, logger)
//	if err := b.Start(ctx); err != nil { ... }
//	defer b.Close()
//
// Start order follows DESIGN.md section 5: open the listeners, then start
// the cluster loops, which register asynchronously; Start never waits for
// the backend. /readyz turns ready once this broker's own registration is in
// its image.
package broker
