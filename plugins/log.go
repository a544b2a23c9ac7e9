package plugins

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

type loggerKey struct{}

// WithLogger returns a context carrying logger, for Logger.
func WithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, logger)
}

// Logger returns the logger a backend should use, from the ctx given to
// Factory.New. In a plugin process started by Serve it writes hclog-shaped
// JSON to the plugin's stderr, which the host routes into its own log with
// levels and attributes intact. Without one it returns a logger that
// discards everything.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// hclogTimeFormat is the timestamp layout go-plugin parses in plugin logs.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// newPluginSlogger returns a slog.Logger writing JSON lines in hclog's
// shape (@timestamp, @level, @message, then attributes) to w, so go-plugin
// on the host parses them as structured log entries.
func newPluginSlogger(w io.Writer, level slog.Level, name string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			// ReplaceAttr also sees the caller's own attributes: only the
			// built-ins (by key and kind) are renamed; an attribute that
			// merely shares a built-in's name keeps it.
			switch {
			case a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case a.Key == slog.LevelKey:
				if lvl, ok := a.Value.Any().(slog.Level); ok {
					return slog.String("@level", hclogLevelName(lvl))
				}
			case a.Key == slog.MessageKey && a.Value.Kind() == slog.KindString:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
	return slog.New(h).With("@module", name)
}

func hclogLevelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// slogLevelFromHCLog maps an hclog level name to a slog level (info when
// unknown).
func slogLevelFromHCLog(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
