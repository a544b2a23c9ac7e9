// Package server runs the broker's Kafka listeners: it accepts TCP
// connections, frames and decodes requests (core/wire), dispatches them to
// the handlers of the broker's API registry (core/protocol) and writes the
// responses back in request order.
//
//	cfg := server.DefaultConfig()
//	cfg.ListenAddrs = []string{"0.0.0.0:9092"}
//	cfg.AdvertisedAddr = "broker1.example.com:9092" // required with 0.0.0.0
//	cfg.Metrics = promRegistry                      // optional
//	srv, err := server.New(cfg, &protocol.Broker{NodeID: 1}, logger)
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }     // listening on return
//	defer srv.Close()                               // closes and waits for everything
//
// # Connections
//
// Each connection has one reader and one writer goroutine. The reader reads
// and decodes requests and calls their handlers one at a time, in request
// order; a handler that answers later (protocol.Request.Defer: long-polling
// Fetch, acks=all) has its wait run on a goroutine of the connection while
// the reader goes on. The writer writes responses strictly in request
// order, batching those that are ready; a request without response
// (handler returns nil, nil) just takes its turn. At most
// MaxInFlightPerConnection requests are in flight per connection.
//
// A frame larger than MaxRequestSize, bytes that do not parse, an api key
// or version the registry does not serve (ApiVersions excepted: it answers
// UNSUPPORTED_VERSION), or a handler returning a Go error or panicking
// closes that connection only, with one log line (info; debug for ordinary
// closes) and nothing else affected. Connections idle (no byte either way)
// for IdleTimeout are closed.
//
// # Metrics
//
// Registered on Config.Metrics when set:
//
//	chronik_requests_total{api}              counter
//	chronik_request_errors_total{api}        counter (handler Go errors and panics)
//	chronik_request_duration_seconds{api}    histogram (read to response ready)
//	chronik_received_bytes_total             counter
//	chronik_sent_bytes_total                 counter
//	chronik_open_connections                 gauge
//	chronik_connections_accepted_total       counter
//	chronik_connections_rejected_total       counter (MaxConnections)
//	chronik_connections_closed_total{reason} counter
//
// The api label is the Kafka name (kmsg.NameForKey), e.g. "ApiVersions".
// Close reasons: client_closed, read_error, write_error, idle, shutdown,
// request_too_large, malformed_request, unsupported_api,
// unsupported_version, handler_error, handler_panic.
package server
