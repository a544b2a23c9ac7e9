package etcdmeta_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestConfigFromMetadata(t *testing.T) {
	base := func(extra map[string]string) metadata.Config {
		s := map[string]string{etcdmeta.SettingEndpoints: "h1:2379, h2:2379,https://h3:2379"}
		for k, v := range extra {
			s[k] = v
		}
		return metadata.Config{NodeID: "7", SessionTimeout: 3 * time.Second, Settings: s}
	}
	c, err := etcdmeta.ConfigFromMetadata(base(map[string]string{
		etcdmeta.SettingPrefix:          "/prod/",
		etcdmeta.SettingDialTimeout:     "2s",
		etcdmeta.SettingRequestTimeout:  "1500ms",
		etcdmeta.SettingUsername:        "chronik",
		etcdmeta.SettingPassword:        " secret ",
		etcdmeta.SettingMaxTxnOps:       "64",
		etcdmeta.SettingMaxRequestBytes: "1048576",
		"raft.bind":                     "ignored: not an etcd key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"h1:2379", "h2:2379", "https://h3:2379"}; strings.Join(c.Endpoints, " ") != strings.Join(want, " ") {
		t.Errorf("endpoints %q", c.Endpoints)
	}
	if c.NodeID != "7" || c.SessionTimeout != 3*time.Second || c.Prefix != "/prod/" || c.DialTimeout != 2*time.Second ||
		c.RequestTimeout != 1500*time.Millisecond || c.Username != "chronik" || c.Password != " secret " ||
		c.MaxTxnOps != 64 || c.MaxRequestBytes != 1048576 {
		t.Errorf("config %+v", c)
	}
	d, err := etcdmeta.ConfigFromMetadata(metadata.Config{Settings: map[string]string{etcdmeta.SettingEndpoints: "127.0.0.1:2379"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Prefix != etcdmeta.DefaultPrefix || d.SessionTimeout != metadata.DefaultSessionTimeout || d.MaxTxnOps != etcdmeta.DefaultMaxTxnOps {
		t.Errorf("defaults %+v", d)
	}
	for _, tc := range []struct {
		settings map[string]string
		mention  string
	}{
		{map[string]string{etcdmeta.SettingEndpoints: ""}, etcdmeta.SettingEndpoints},
		{map[string]string{etcdmeta.SettingEndpoints: "h1"}, "h1"},
		{map[string]string{etcdmeta.SettingEndpoints: "h1:0"}, "port"},
		{map[string]string{etcdmeta.SettingEndpoints: "unix://x:1"}, "scheme"},
		{map[string]string{etcdmeta.SettingPrefix: "/prod"}, "must end with"},
		{map[string]string{etcdmeta.SettingPrefix: ""}, etcdmeta.SettingPrefix},
		{map[string]string{etcdmeta.SettingDialTimeout: "5"}, etcdmeta.SettingDialTimeout},
		{map[string]string{etcdmeta.SettingRequestTimeout: "-1s"}, etcdmeta.SettingRequestTimeout},
		{map[string]string{etcdmeta.SettingCertFile: "c.pem"}, etcdmeta.SettingKeyFile},
		{map[string]string{etcdmeta.SettingUsername: "u"}, etcdmeta.SettingPassword},
		{map[string]string{etcdmeta.SettingMaxTxnOps: "2"}, etcdmeta.SettingMaxTxnOps},
		{map[string]string{etcdmeta.SettingMaxRequestBytes: "lots"}, etcdmeta.SettingMaxRequestBytes},
		{map[string]string{"etcd.endpoint": "h1:2379"}, "unknown setting"},
	} {
		mc := base(tc.settings)
		if _, ok := tc.settings[etcdmeta.SettingEndpoints]; !ok && tc.settings["etcd.endpoint"] != "" {
			delete(mc.Settings, etcdmeta.SettingEndpoints)
		}
		_, err := etcdmeta.ConfigFromMetadata(mc)
		if !errors.Is(err, metadata.ErrInvalid) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("settings %v: %v, want ErrInvalid mentioning %q", tc.settings, err, tc.mention)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ctx := ctxFor(t, 10*time.Second)
	for _, cfg := range []etcdmeta.Config{
		{},
		{Endpoints: []string{"127.0.0.1:1"}, CAFile: "/nonexistent/ca.pem"},
		{Endpoints: []string{"127.0.0.1:1"}, CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"},
	} {
		if b, err := etcdmeta.New(ctx, cfg); !errors.Is(err, metadata.ErrInvalid) {
			if b != nil {
				b.Close()
			}
			t.Errorf("New(%+v): %v, want ErrInvalid", cfg, err)
		}
	}
}

// TestUnreachableEtcd: a node whose etcd is down starts, fails every call
// with ErrUnavailable by its deadline, and works once etcd is back; a
// watch opened meanwhile delivers what happens after.
func TestUnreachableEtcd(t *testing.T) {
	ec := startEtcd(t, 1)
	ec.Kill(0)
	began := time.Now()
	b := newBackend(t, ec.Endpoints(), "/down/")
	if took := time.Since(began); took > time.Second {
		t.Errorf("New with etcd down took %v", took)
	}
	calls := map[string]func(context.Context) error{
		"Snapshot":       func(ctx context.Context) error { _, err := b.Snapshot(ctx); return err },
		"RegisterBroker": func(ctx context.Context) error { _, err := b.RegisterBroker(ctx, reg(1, "a")); return err },
		"Heartbeat":      func(ctx context.Context) error { _, err := b.Heartbeat(ctx, 1, 1); return err },
		"CreateTopic":    func(ctx context.Context) error { _, err := b.CreateTopic(ctx, spec("t", 1)); return err },
		"Info":           func(ctx context.Context) error { _, err := b.Info(ctx); return err },
		"Watch(5)":       func(ctx context.Context) error { _, err := b.Watch(ctx, 5); return err },
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			began := time.Now()
			err := call(ctx)
			if !errors.Is(err, metadata.ErrUnavailable) || !strings.Contains(err.Error(), ec.Endpoint(0)) {
				t.Errorf("%s with etcd down: %v, want ErrUnavailable naming the endpoint", name, err)
			}
			if took := time.Since(began); took > 1500*time.Millisecond {
				t.Errorf("%s with etcd down took %v, deadline 1s", name, took)
			}
		})
	}
	wg.Wait()
	// A call without a deadline is bounded by the request timeout.
	short := newBackend(t, ec.Endpoints(), "/down/", func(c *etcdmeta.Config) { c.RequestTimeout = 700 * time.Millisecond })
	began = time.Now()
	if _, err := short.AllocateProducerIDs(context.Background(), 1); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("AllocateProducerIDs without a deadline, etcd down: %v", err)
	}
	if took := time.Since(began); took > 1200*time.Millisecond {
		t.Errorf("AllocateProducerIDs without a deadline took %v, request timeout 700ms", took)
	}
	w := watch(t, b, 0)
	if err := ec.Launch(0); err != nil {
		t.Fatal(err)
	}
	var br metadata.Broker
	eventually(t, 20*time.Second, "registering once etcd is back", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		br, err = b.RegisterBroker(ctx, reg(1, "a"))
		return err
	})
	bs := w.until(metadata.Revision(br.Epoch), 10*time.Second)
	if got := bs[len(bs)-1]; got.Events[0].Type != metadata.EventBrokerRegistered {
		t.Errorf("watch opened while etcd was down delivered %+v", got)
	}
}

func TestSessionTimeoutRoundsUpToSeconds(t *testing.T) {
	ec := startEtcd(t, 1)
	b := newBackend(t, ec.Endpoints(), "/ttl/", func(c *etcdmeta.Config) { c.SessionTimeout = 1500 * time.Millisecond })
	ctx := ctxFor(t, 10*time.Second)
	br, err := b.RegisterBroker(ctx, reg(1, "a"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Heartbeat(ctx, br.ID, br.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionTimeout != 2*time.Second {
		t.Errorf("session timeout 1.5s became %v, want 2s", res.SessionTimeout)
	}
}
