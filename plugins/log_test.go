package plugins

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestPluginSloggerShape: lines are hclog-shaped JSON, and attributes that
// share a built-in's name (raft logs "time" as a duration) neither crash
// the handler nor replace the built-ins.
func TestPluginSloggerShape(t *testing.T) {
	var buf bytes.Buffer
	l := newPluginSlogger(&buf, slog.LevelDebug, "chronik-metadata-test")
	l.Warn("slow apply", "time", 3*time.Millisecond, "level", "custom", "n", 7)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	if m["@message"] != "slow apply" || m["@level"] != "warn" || m["@module"] != "chronik-metadata-test" || m["n"] != float64(7) {
		t.Fatalf("line %s", buf.String())
	}
	if _, err := time.Parse(hclogTimeFormat, m["@timestamp"].(string)); err != nil {
		t.Fatalf("@timestamp: %v", err)
	}
	if m["time"] != "3ms" && m["time"] != float64(3*time.Millisecond) {
		t.Fatalf("the caller's time attribute was lost: %s", buf.String())
	}
}
