package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level hclog's Trace maps to (below slog.LevelDebug).
const LevelTrace = slog.LevelDebug - 4

// NewHCLogger returns an hclog.Logger that forwards every entry to l: the
// level is mapped (Trace to LevelTrace, Debug, Info, Warn and Error to the
// slog levels of the same name), key/value arguments become attributes and
// the hclog name, when set, becomes the attribute logger=<name>.
//
// It is the bridge for the hclog edges of the stack (go-plugin on the host
// side, which calls it with every JSON log line the plugin writes on stderr,
// and hashicorp libraries such as raft). Whether an entry is emitted is
// decided by l's handler, and additionally by SetLevel when it was called.
// The logger is safe for concurrent use. A nil l discards everything.
func NewHCLogger(l *slog.Logger) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.NoLevel))
	return &hcLogger{l: l, level: lvl}
}

// newHostHCLogger is the bridge go-plugin logs through on the host side. l
// carries plugin=<name>; go-plugin's own "plugin" argument (the executable
// path) becomes plugin_path so the two do not collide.
func newHostHCLogger(l *slog.Logger) hclog.Logger {
	h := NewHCLogger(l).(*hcLogger)
	h.rename = map[string]string{"plugin": "plugin_path"}
	return h
}

// hcLogger implements hclog.Logger on top of a *slog.Logger.
type hcLogger struct {
	l       *slog.Logger // carries the implied arguments as attributes
	name    string
	implied []any
	// level is shared by every logger derived with With/Named, as hclog's
	// SetLevel is; hclog.NoLevel means "whatever l's handler enables".
	level *atomic.Int32
	// rename maps argument keys to the attribute keys they are logged as.
	rename map[string]string
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps an hclog level to a slog level; ok is false for Off.
func slogLevel(level hclog.Level) (slog.Level, bool) {
	switch level {
	case hclog.Trace:
		return LevelTrace, true
	case hclog.Debug:
		return slog.LevelDebug, true
	case hclog.Warn:
		return slog.LevelWarn, true
	case hclog.Error:
		return slog.LevelError, true
	case hclog.Off:
		return 0, false
	default: // Info, NoLevel
		return slog.LevelInfo, true
	}
}

func (h *hcLogger) enabled(level hclog.Level) bool {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if floor := hclog.Level(h.level.Load()); floor != hclog.NoLevel && level < floor {
		return false
	}
	sl, ok := slogLevel(level)
	return ok && h.l.Enabled(context.Background(), sl)
}

// Log emits msg with args at level.
func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if !h.enabled(level) {
		return
	}
	sl, _ := slogLevel(level)
	r := slog.NewRecord(time.Now(), sl, msg, 0)
	if h.name != "" {
		r.AddAttrs(slog.String("logger", h.name))
	}
	r.AddAttrs(h.attrs(args)...)
	_ = h.l.Handler().Handle(context.Background(), r)
}

// attrs turns hclog's alternating key/value arguments into attributes,
// formatting hclog's helper value types the way hclog prints them.
func (h *hcLogger) attrs(args []any) []slog.Attr {
	if len(args) == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			if st, ok := args[i].(hclog.CapturedStacktrace); ok {
				attrs = append(attrs, slog.String("stacktrace", string(st)))
			} else {
				attrs = append(attrs, slog.Any("EXTRA_VALUE_AT_END", hclogValue(args[i])))
			}
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if key == "timestamp" || key == "@module" {
			// go-plugin's copy of a plugin line's time and hclog's module
			// name: the record has its time, and plugin=<name> says whose
			// line it is.
			continue
		}
		if k, ok := h.rename[key]; ok {
			key = k
		}
		attrs = append(attrs, slog.Any(key, hclogValue(args[i+1])))
	}
	return attrs
}

func hclogValue(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		if f, ok := v[0].(string); ok {
			return fmt.Sprintf(f, v[1:]...)
		}
		return fmt.Sprint(v...)
	case hclog.Hex:
		return fmt.Sprintf("0x%x", int(v))
	case hclog.Octal:
		return fmt.Sprintf("0%o", int(v))
	case hclog.Binary:
		return fmt.Sprintf("0b%b", int(v))
	case hclog.Quote:
		return fmt.Sprintf("%q", string(v))
	}
	return v
}

// Trace emits at hclog.Trace.
func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }

// Debug emits at hclog.Debug.
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }

// Info emits at hclog.Info.
func (h *hcLogger) Info(msg string, args ...any) { h.Log(hclog.Info, msg, args...) }

// Warn emits at hclog.Warn.
func (h *hcLogger) Warn(msg string, args ...any) { h.Log(hclog.Warn, msg, args...) }

// Error emits at hclog.Error.
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

// IsTrace reports whether Trace entries are emitted.
func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }

// IsDebug reports whether Debug entries are emitted.
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }

// IsInfo reports whether Info entries are emitted.
func (h *hcLogger) IsInfo() bool { return h.enabled(hclog.Info) }

// IsWarn reports whether Warn entries are emitted.
func (h *hcLogger) IsWarn() bool { return h.enabled(hclog.Warn) }

// IsError reports whether Error entries are emitted.
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

// ImpliedArgs returns the arguments given to With.
func (h *hcLogger) ImpliedArgs() []any { return h.implied }

// With returns a logger that adds args to every entry.
func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	attrs := h.attrs(args)
	as := make([]any, len(attrs))
	for i, a := range attrs {
		as[i] = a
	}
	c.l = h.l.With(as...)
	return &c
}

// Name returns the logger's name.
func (h *hcLogger) Name() string { return h.name }

// Named returns a logger whose name is this one's with name appended.
func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed returns a logger named name.
func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel sets a minimum level for this logger and every logger derived
// from the same NewHCLogger call; hclog.NoLevel removes it again.
func (h *hcLogger) SetLevel(level hclog.Level) { h.level.Store(int32(level)) }

// GetLevel returns the lowest level that is emitted, or hclog.Off.
func (h *hcLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

// StandardLogger returns a *log.Logger that writes into this logger.
func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

// StandardWriter returns an io.Writer that emits every line written to it
// as one entry (at Info, or as opts asks: a forced level, or the level of a
// "[WARN]"-style prefix).
func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &hclogWriter{log: h, opts: *opts}
}

// hclogWriter is the io.Writer of StandardWriter. It buffers a partial
// line until its newline arrives.
type hclogWriter struct {
	log  *hcLogger
	opts hclog.StandardLoggerOptions

	mu  sync.Mutex
	buf []byte
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.emit(line)
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

var hclogPrefixes = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
}

func (w *hclogWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	level := hclog.Info
	if w.opts.ForceLevel != hclog.NoLevel || w.opts.InferLevels {
		trimmed := strings.TrimSpace(line)
		for _, p := range hclogPrefixes {
			if rest, ok := strings.CutPrefix(trimmed, p.prefix); ok {
				level, line = p.level, strings.TrimSpace(rest)
				break
			}
		}
		if w.opts.ForceLevel != hclog.NoLevel {
			level = w.opts.ForceLevel
		}
	}
	w.log.Log(level, line)
}

// pluginOutput is an io.Writer for what a plugin process writes on its
// stdout and stderr after go-plugin's Serve took them over (go-plugin
// streams them to the host over gRPC, unframed): it cuts the stream into
// lines and emits each through log. A line of hclog JSON (what an hclog
// logger with JSONFormat writes) becomes an entry at its level with its
// message and fields; any other line an entry at the level of its
// "[WARN]"-style prefix, or Debug (as go-plugin does for the plugin's
// stderr before Serve).
type pluginOutput struct {
	log hclog.Logger

	mu  sync.Mutex
	buf []byte
}

func newPluginOutput(log hclog.Logger) *pluginOutput { return &pluginOutput{log: log} }

func (w *pluginOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimRight(w.buf[:i], "\r")
		w.buf = w.buf[i+1:]
		if len(line) > 0 {
			logPluginLine(w.log, line)
		}
	}
	if len(w.buf) == 0 {
		w.buf = nil
	} else if len(w.buf) > 64<<10 {
		// An endless line: emit what we have rather than grow forever.
		logPluginLine(w.log, w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// logPluginLine emits one line of plugin output.
func logPluginLine(log hclog.Logger, line []byte) {
	var fields map[string]any
	if json.Unmarshal(line, &fields) == nil {
		msg, _ := fields["@message"].(string)
		lvl, _ := fields["@level"].(string)
		if level := hclog.LevelFromString(lvl); msg != "" && level != hclog.NoLevel {
			keys := make([]string, 0, len(fields))
			for k := range fields {
				switch k {
				case "@message", "@level", "@timestamp":
					continue
				}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			args := make([]any, 0, 2*len(keys))
			for _, k := range keys {
				args = append(args, strings.TrimPrefix(k, "@"), fields[k])
			}
			log.Log(level, msg, args...)
			return
		}
	}
	s := string(line)
	level := hclog.Debug
	for _, p := range hclogPrefixes {
		if strings.HasPrefix(s, p.prefix) {
			level = p.level
			break
		}
	}
	log.Log(level, s)
}
