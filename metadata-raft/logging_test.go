package raftmeta

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins"
)

func TestRenameBuiltinKeys(t *testing.T) {
	var buf bytes.Buffer
	// A ReplaceAttr that, like a hclog-shaped plugin logger, trusts the
	// kind of the built-in "time" key.
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.String("@timestamp", a.Value.Time().Format(time.RFC3339))
		}
		return a
	}})
	hl := plugins.NewHCLogger(slog.New(renameBuiltinKeys(h)).With("msg", "with"))
	hl.Warn("failed to contact", "server-id", "2", "time", 3*time.Second, "level", 1)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if got["raft.time"] != "3s" && got["raft.time"] != float64(3*time.Second) {
		t.Errorf("raft.time = %v in %s", got["raft.time"], buf.Bytes())
	}
	if got["raft.level"] != float64(1) || got["raft.msg"] != "with" || got["msg"] != "failed to contact" || got["server-id"] != "2" {
		t.Errorf("got %s", buf.Bytes())
	}
}
