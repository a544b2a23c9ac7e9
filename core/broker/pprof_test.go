package broker

import (
	"context"
	"testing"
	"time"
)

// TestHTTPPprof: /debug/pprof/ is served only when HTTPPprof is set.
func TestHTTPPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := newStore(t)
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.HTTPPprof = on
		b, err := New(cfg, st.Node("broker"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.Start(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		code, body := httpGet(t, "http://"+b.HTTPAddr()+"/debug/pprof/")
		code2, _ := httpGet(t, "http://"+b.HTTPAddr()+"/debug/pprof/heap?debug=1")
		_ = b.Close()
		if on && (code != 200 || code2 != 200 || len(body) == 0) {
			t.Errorf("pprof on: /debug/pprof/ = %d, heap = %d", code, code2)
		}
		if !on && (code != 404 || code2 != 404) {
			t.Errorf("pprof off: /debug/pprof/ = %d, heap = %d", code, code2)
		}
	}
}
