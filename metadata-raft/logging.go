package raftmeta

import (
	"context"
	"log/slog"
)

// renameBuiltinKeys wraps h so that attributes a library logs under one of
// slog's built-in keys (hashicorp/raft logs "time" as a duration) are
// renamed with a "raft." prefix: a JSON line with two "time" keys is
// ambiguous, and a handler's ReplaceAttr may expect the built-in's kind.
func renameBuiltinKeys(h slog.Handler) slog.Handler { return renameHandler{h} }

type renameHandler struct{ h slog.Handler }

func (r renameHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r renameHandler) Handle(ctx context.Context, rec slog.Record) error {
	clash := false
	rec.Attrs(func(a slog.Attr) bool {
		clash = isBuiltinKey(a.Key)
		return !clash
	})
	if !clash {
		return r.h.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renameAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r renameHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = renameAttr(a)
	}
	return renameHandler{r.h.WithAttrs(out)}
}

// WithGroup: attributes inside a group cannot clash with built-ins.
func (r renameHandler) WithGroup(name string) slog.Handler { return r.h.WithGroup(name) }

func isBuiltinKey(k string) bool {
	return k == slog.TimeKey || k == slog.LevelKey || k == slog.MessageKey || k == slog.SourceKey
}

func renameAttr(a slog.Attr) slog.Attr {
	if isBuiltinKey(a.Key) {
		a.Key = "raft." + a.Key
	}
	return a
}
