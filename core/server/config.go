package server

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-go/chronik/core/wire"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidConfig wraps every Config.Validate failure.
	ErrInvalidConfig = errors.New("server: invalid config")
	// ErrServerClosed is returned by Start after Close.
	ErrServerClosed = errors.New("server: closed")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("server: already started")
)

// Config configures a Server. Build it with DefaultConfig and change what
// you need; New validates it.
type Config struct {
	// ListenAddrs are the TCP addresses (host:port) to listen on. An empty
	// host or 0.0.0.0 / :: listens on every interface; port 0 picks a free
	// port (see Server.Addr). Default: 127.0.0.1:9092.
	ListenAddrs []string

	// AdvertisedAddr is the host:port clients are told to connect to (in
	// Metadata). It must name a reachable host: 0.0.0.0, ::, an empty
	// host or port 0 are refused. Empty means the first listen address,
	// which must then have a specific host (its port may be 0: the bound
	// port is advertised). Default: empty.
	AdvertisedAddr string

	// MaxRequestSize is the largest request frame accepted, in bytes
	// (Kafka's socket.request.max.bytes). A larger one closes its
	// connection with an info log. Default: 100 MiB.
	MaxRequestSize int32

	// IdleTimeout closes connections that moved no byte in either
	// direction for this long (Kafka's connections.max.idle.ms), whether
	// or not a deferred response is pending, so keep it well above the
	// longest Fetch max wait. It is also what ends a connection whose
	// client stopped reading (there is no write deadline). Zero disables
	// reaping. Default: 10 minutes.
	IdleTimeout time.Duration

	// MaxConnections caps open client connections; a connection accepted
	// beyond it is closed at once. Zero means no cap. Default: 0.
	MaxConnections int

	// MaxInFlightPerConnection caps the requests of one connection read
	// but not yet answered; the connection's reader stops reading until
	// the oldest is answered. Default: 64.
	MaxInFlightPerConnection int

	// ReadBufferSize is the size of each connection's read buffer.
	// Default: 64 KiB.
	ReadBufferSize int

	// WriteBufferSize is the response batch size: ready responses are
	// encoded into one buffer and written together up to this size, and
	// a connection keeps a buffer up to four times this size between
	// writes (a larger one, from a big Fetch, is released). Default:
	// 64 KiB.
	WriteBufferSize int

	// SocketSendBufferBytes and SocketReceiveBufferBytes set SO_SNDBUF and
	// SO_RCVBUF on accepted connections (Kafka's
	// socket.send.buffer.bytes / socket.receive.buffer.bytes). Zero keeps
	// the OS default. Default: 0.
	SocketSendBufferBytes    int
	SocketReceiveBufferBytes int

	// Metrics is where the server registers its Prometheus collectors
	// (see the package doc for the list); they are unregistered by
	// Close. Nil disables metrics. There is no global registry.
	Metrics prometheus.Registerer
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:              []string{"127.0.0.1:9092"},
		MaxRequestSize:           wire.DefaultMaxRequestSize,
		IdleTimeout:              10 * time.Minute,
		MaxInFlightPerConnection: 64,
		ReadBufferSize:           64 << 10,
		WriteBufferSize:          64 << 10,
	}
}

// Validate checks c and returns an error wrapping ErrInvalidConfig that
// names the first bad field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if len(c.ListenAddrs) == 0 {
		return bad("no listen address")
	}
	for _, addr := range c.ListenAddrs {
		if _, _, err := splitHostPort(addr, true); err != nil {
			return bad("listen address %q: %v", addr, err)
		}
	}
	if c.AdvertisedAddr != "" {
		if err := checkAdvertised(c.AdvertisedAddr, false); err != nil {
			return bad("advertised address %q: %v", c.AdvertisedAddr, err)
		}
	} else if err := checkAdvertised(c.ListenAddrs[0], true); err != nil {
		return bad("no advertised address, and the first listen address %q cannot be advertised: %v", c.ListenAddrs[0], err)
	}
	switch {
	case c.MaxRequestSize <= 0:
		return bad("MaxRequestSize %d must be positive", c.MaxRequestSize)
	case c.IdleTimeout < 0:
		return bad("IdleTimeout %v must not be negative", c.IdleTimeout)
	case c.MaxConnections < 0:
		return bad("MaxConnections %d must not be negative", c.MaxConnections)
	case c.MaxInFlightPerConnection <= 0:
		return bad("MaxInFlightPerConnection %d must be positive", c.MaxInFlightPerConnection)
	case c.ReadBufferSize <= 0:
		return bad("ReadBufferSize %d must be positive", c.ReadBufferSize)
	case c.WriteBufferSize <= 0:
		return bad("WriteBufferSize %d must be positive", c.WriteBufferSize)
	case c.SocketSendBufferBytes < 0:
		return bad("SocketSendBufferBytes %d must not be negative", c.SocketSendBufferBytes)
	case c.SocketReceiveBufferBytes < 0:
		return bad("SocketReceiveBufferBytes %d must not be negative", c.SocketReceiveBufferBytes)
	}
	return nil
}

// splitHostPort splits addr and checks the port is a number in range (0
// allowed only when allowZero).
func splitHostPort(addr string, allowZero bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", portStr)
	}
	if port == 0 && !allowZero {
		return "", 0, errors.New("port 0 cannot be advertised")
	}
	return host, port, nil
}

// checkAdvertised refuses addresses a client cannot connect to.
func checkAdvertised(addr string, allowZeroPort bool) error {
	host, _, err := splitHostPort(addr, allowZeroPort)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("empty host (all interfaces) cannot be advertised")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("unspecified address %s cannot be advertised", host)
	}
	return nil
}
