package server

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ListenAddrs[0] != "127.0.0.1:9092" || c.MaxRequestSize != 100<<20 || c.IdleTimeout != 10*time.Minute {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"listen localhost", func(c *Config) { c.ListenAddrs = []string{"localhost:9092"} }, ""},
		{"listen ipv6 loopback", func(c *Config) { c.ListenAddrs = []string{"[::1]:0"} }, ""},
		{"all interfaces advertised by name", func(c *Config) {
			c.ListenAddrs = []string{"0.0.0.0:9092"}
			c.AdvertisedAddr = "broker1.example.com:9092"
		}, ""},
		{"empty host advertised by ip", func(c *Config) {
			c.ListenAddrs = []string{":9092"}
			c.AdvertisedAddr = "10.0.0.5:9092"
		}, ""},
		{"idle reaping off", func(c *Config) { c.IdleTimeout = 0 }, ""},
		{"no listeners", func(c *Config) { c.ListenAddrs = nil }, "no listen address"},
		{"listen without port", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1"} }, "listen address"},
		{"listen bad port", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:http"} }, "listen address"},
		{"listen port too big", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:70000"} }, "listen address"},
		{"second listener bad", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:9092", "nope"} }, `"nope"`},
		{"0.0.0.0 without advertised", func(c *Config) { c.ListenAddrs = []string{"0.0.0.0:9092"} }, "unspecified address 0.0.0.0"},
		{":: without advertised", func(c *Config) { c.ListenAddrs = []string{"[::]:9092"} }, "unspecified address ::"},
		{"empty host without advertised", func(c *Config) { c.ListenAddrs = []string{":9092"} }, "empty host"},
		{"advertise 0.0.0.0", func(c *Config) { c.AdvertisedAddr = "0.0.0.0:9092" }, "unspecified address"},
		{"advertise ::", func(c *Config) { c.AdvertisedAddr = "[::]:9092" }, "unspecified address"},
		{"advertise empty host", func(c *Config) { c.AdvertisedAddr = ":9092" }, "empty host"},
		{"advertise port 0", func(c *Config) { c.AdvertisedAddr = "broker:0" }, "port 0"},
		{"advertise unparsable", func(c *Config) { c.AdvertisedAddr = "broker" }, "advertised address"},
		{"advertise bad port", func(c *Config) { c.AdvertisedAddr = "broker:x" }, "advertised address"},
		{"max request size", func(c *Config) { c.MaxRequestSize = 0 }, "MaxRequestSize"},
		{"idle negative", func(c *Config) { c.IdleTimeout = -time.Second }, "IdleTimeout"},
		{"max connections", func(c *Config) { c.MaxConnections = -1 }, "MaxConnections"},
		{"in flight", func(c *Config) { c.MaxInFlightPerConnection = 0 }, "MaxInFlightPerConnection"},
		{"read buffer", func(c *Config) { c.ReadBufferSize = 0 }, "ReadBufferSize"},
		{"write buffer", func(c *Config) { c.WriteBufferSize = -1 }, "WriteBufferSize"},
		{"socket send", func(c *Config) { c.SocketSendBufferBytes = -1 }, "SocketSendBufferBytes"},
		{"socket receive", func(c *Config) { c.SocketReceiveBufferBytes = -1 }, "SocketReceiveBufferBytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if _, nerr := New(c, nil, nil); !errors.Is(nerr, ErrInvalidConfig) {
				t.Fatalf("New accepted an invalid config: %v", nerr)
			}
		})
	}
}
