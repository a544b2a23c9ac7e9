package plugins

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// hclogCapture is a slog.Handler keeping records, enabled from min.
type hclogCapture struct {
	min   slog.Level
	attrs []slog.Attr
	mu    *sync.Mutex
	recs  *[]slog.Record
}

func newHCLogCapture(min slog.Level) *hclogCapture {
	return &hclogCapture{min: min, mu: &sync.Mutex{}, recs: &[]slog.Record{}}
}

func (h *hclogCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *hclogCapture) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	*h.recs = append(*h.recs, r)
	h.mu.Unlock()
	return nil
}

func (h *hclogCapture) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clip(h.attrs), as...)
	return &c
}

func (h *hclogCapture) WithGroup(string) slog.Handler { return h }

// take returns the records so far as "LEVEL msg k=v..." lines and forgets
// them.
func (h *hclogCapture) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range *h.recs {
		s := r.Level.String() + " " + r.Message
		var kv []string
		r.Attrs(func(a slog.Attr) bool {
			kv = append(kv, fmt.Sprintf("%s=%v", a.Key, a.Value))
			return true
		})
		slices.Sort(kv)
		for _, x := range kv {
			s += " " + x
		}
		out = append(out, s)
	}
	*h.recs = nil
	return out
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("records:\n got %q\nwant %q", got, want)
	}
}

func TestHCLoggerLevels(t *testing.T) {
	c := newHCLogCapture(slog.LevelDebug)
	l := NewHCLogger(slog.New(c))
	if l.IsTrace() || !l.IsDebug() || !l.IsError() {
		t.Fatalf("IsTrace %v IsDebug %v IsError %v; want false true true", l.IsTrace(), l.IsDebug(), l.IsError())
	}
	if got := l.GetLevel(); got != hclog.Debug {
		t.Fatalf("GetLevel = %v, want debug", got)
	}
	l.Trace("t")
	l.Debug("d", "k", 1)
	l.Info("i")
	l.Warn("w")
	l.Error("e", "err", io.EOF)
	l.Log(hclog.NoLevel, "n")
	l.Log(hclog.Off, "off")
	wantLines(t, c.take(), "DEBUG d k=1", "INFO i", "WARN w", "ERROR e err=EOF", "INFO n")

	l.SetLevel(hclog.Warn)
	l.Info("dropped")
	l.Warn("kept")
	if got := l.GetLevel(); got != hclog.Warn {
		t.Fatalf("GetLevel after SetLevel(Warn) = %v", got)
	}
	wantLines(t, c.take(), "WARN kept")

	tc := newHCLogCapture(LevelTrace)
	NewHCLogger(slog.New(tc)).Trace("fine")
	wantLines(t, tc.take(), "DEBUG-4 fine")

	if got := NewHCLogger(nil).GetLevel(); got != hclog.Off {
		t.Fatalf("nil logger: GetLevel = %v, want off", got)
	}
}

func TestHCLoggerArgsNamesAndWith(t *testing.T) {
	c := newHCLogCapture(slog.LevelDebug)
	l := NewHCLogger(slog.New(c)).Named("a").Named("b").With("node", "n1")
	if l.Name() != "a.b" || !slices.Equal(l.ImpliedArgs(), []any{"node", "n1"}) {
		t.Fatalf("Name %q ImpliedArgs %v", l.Name(), l.ImpliedArgs())
	}
	l.Info("formats", "f", hclog.Fmt("%d beans", 3), "h", hclog.Hex(255), "q", hclog.Quote("x\n"), "dangling")
	l.ResetNamed("r").Info("reset")
	wantLines(t, c.take(),
		`INFO formats EXTRA_VALUE_AT_END=dangling f=3 beans h=0xff logger=a.b node=n1 q="x\n"`,
		"INFO reset logger=r node=n1")
}

func TestHCLoggerStandardWriter(t *testing.T) {
	c := newHCLogCapture(slog.LevelDebug)
	l := NewHCLogger(slog.New(c))
	w := l.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	fmt.Fprint(w, "[WARN] careful\n[ERROR] bad\nplain par")
	fmt.Fprint(w, "tial\n")
	wantLines(t, c.take(), "WARN careful", "ERROR bad", "INFO plain partial")

	forced := l.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error})
	fmt.Fprint(forced, "[INFO] forced\n")
	l.StandardLogger(nil).Print("via log")
	wantLines(t, c.take(), "ERROR forced", "INFO via log")
}

func TestPluginOutputLines(t *testing.T) {
	c := newHCLogCapture(slog.LevelDebug)
	w := newPluginOutput(NewHCLogger(slog.New(c)))
	fmt.Fprint(w, `{"@level":"warn","@message":"from json","@module":"raft","@timestamp":"2026-01-01T00:00:00.000000Z","peer":"n2"}`+"\n")
	fmt.Fprint(w, "[ERROR] prefixed\nplain text")
	fmt.Fprint(w, "\n{\"not\":\"hclog\"}\n\n")
	wantLines(t, c.take(),
		"WARN from json module=raft peer=n2",
		"ERROR [ERROR] prefixed",
		"DEBUG plain text",
		`DEBUG {"not":"hclog"}`)
}
