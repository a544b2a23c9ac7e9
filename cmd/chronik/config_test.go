package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/chronik-go/chronik/core/replica"
)

// runChronik runs the root command with args and returns stdout and the error.
func runChronik(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(yamlFile, []byte("data-dir: /from/file\nlog-level: debug\nmetadata: etcd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tomlFile := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(tomlFile, []byte("data-dir = \"/from/toml\"\nlog-format = \"json\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	groupFile := filepath.Join(dir, "g.yaml")
	if err := os.WriteFile(groupFile, []byte("offsets.topic.partitions: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"defaults", nil, nil, []string{"metadata: raft", "data-dir: ./data", "log-level: info", "log-format: text"}},
		{"yaml file", nil, []string{"--config", yamlFile}, []string{"metadata: etcd", "data-dir: /from/file", "log-level: debug"}},
		{"toml file", nil, []string{"--config", tomlFile}, []string{"metadata: raft", "data-dir: /from/toml", "log-format: json"}},
		{"env over file", map[string]string{"CHRONIK_DATA_DIR": "/from/env"}, []string{"--config", yamlFile}, []string{"data-dir: /from/env", "log-level: debug"}},
		{"config file from env", map[string]string{"CHRONIK_CONFIG": yamlFile}, nil, []string{"data-dir: /from/file"}},
		{"flag over env and file", map[string]string{"CHRONIK_DATA_DIR": "/from/env"}, []string{"--config", yamlFile, "--data-dir", "/from/flag"}, []string{"data-dir: /from/flag", "metadata: etcd"}},
		{"env with dash key", map[string]string{"CHRONIK_LOG_LEVEL": "warn"}, nil, []string{"log-level: warn"}},
		{"dotted key from env", map[string]string{"CHRONIK_METADATA_PEERS": "1@h:1"}, nil, []string{"metadata.peers: 1@h:1"}},
		{"broker tuning flags", nil, []string{"--log.flush", "always", "--default-partitions", "6", "--auto-create-topics=false"},
			[]string{"log.flush: always", "default-partitions: 6", "auto-create-topics: false"}},
		{"group flags", nil, []string{"--offsets.topic.partitions", "3", "--offsets.retention", "1h", "--group.initial-rebalance-delay", "0s"},
			[]string{"offsets.topic.partitions: 3", "offsets.retention: 1h0m0s", "group.initial-rebalance-delay: 0s"}},
		{"group keys from a file", nil, []string{"--config", groupFile}, []string{"offsets.topic.partitions: 5", "offsets.topic.replication-factor: 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, err := runChronik(t, append([]string{"config"}, tt.args...)...)
			if err != nil {
				t.Fatalf("chronik config: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--config", write("typo.yaml", "data-dri: /x\n")}, "data-dri"},
		{"bad yaml", []string{"--config", write("bad.yaml", "data-dir: [\n")}, "bad.yaml"},
		{"unknown extension", []string{"--config", write("c.ini", "x=1\n")}, "unknown format"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"bad level", []string{"--log-level", "loud"}, `log-level: "loud"`},
		{"bad format", []string{"--log-format", "xml"}, `log-format: "xml"`},
		{"empty data dir", []string{"--data-dir", ""}, "data-dir: must not be empty"},
		{"plugin dir missing", []string{"--plugin-dir", filepath.Join(dir, "none")}, "plugin-dir"},
		{"plugin dir is a file", []string{"--plugin-dir", write("f", "")}, "is not a directory"},
		{"bad flush policy", []string{"--log.flush", "sometimes"}, "log.flush"},
		{"zero default partitions", []string{"--default-partitions", "0"}, "default-partitions"},
		{"zero offsets partitions", []string{"--offsets.topic.partitions", "0"}, "offsets topic partitions 0"},
		{"zero replica lag", []string{"--replica.lag-time-max", "0s"}, "replica lag time max"},
		{"imbalance over 100%", []string{"--leader-imbalance.per-broker-percentage", "101"}, "replication settings"},
		{"negative controlled shutdown timeout", []string{"--controlled-shutdown.timeout", "-1s"}, "controlled shutdown timeout -1s is negative"},
		{"session bounds reversed", []string{"--group.min-session-timeout", "1m", "--group.max-session-timeout", "10s"}, "session timeout bounds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runChronik(t, append([]string{"config"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := runChronik(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "chronik ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version output %q", out)
	}
}

// TestControlledShutdownTimeout: --controlled-shutdown.timeout (or
// CHRONIK_CONTROLLED_SHUTDOWN_TIMEOUT) reaches the broker's replica
// configuration, which core/broker's Close (run on SIGTERM) uses; the
// default is the replica package's.
func TestControlledShutdownTimeout(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  string
		args []string
		want time.Duration
	}{
		{"default", "", nil, replica.DefaultControlledShutdownTimeout},
		{"flag", "", []string{"--controlled-shutdown.timeout", "2s"}, 2 * time.Second},
		{"off", "", []string{"--controlled-shutdown.timeout", "0s"}, 0},
		{"env", "750ms", nil, 750 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("CHRONIK_CONTROLLED_SHUTDOWN_TIMEOUT", tt.env)
			}
			fs := pflag.NewFlagSet("chronik", pflag.ContinueOnError)
			addConfigFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(fs)
			if err != nil {
				t.Fatal(err)
			}
			bcfg, _, err := brokerConfigs(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := bcfg.Replica.ControlledShutdownTimeout; got != tt.want {
				t.Fatalf("broker's controlled shutdown timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBackendSettingsFromFileAndEnv: backend settings (metadata.set), such
// as an etcd password, can come from the config file or the environment
// instead of the command line, where ps would show them.
func TestBackendSettingsFromFileAndEnv(t *testing.T) {
	load := func(t *testing.T, args ...string) Config {
		t.Helper()
		fs := pflag.NewFlagSet("chronik", pflag.ContinueOnError)
		addConfigFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(fs)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	file := filepath.Join(t.TempDir(), "creds.yaml")
	if err := os.WriteFile(file, []byte("metadata: etcd\nmetadata.etcd.endpoints: 127.0.0.1:2379\nmetadata.set:\n  - etcd.username=chronik\n  - etcd.password=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := load(t, "--config", file).Settings, []string{"etcd.username=chronik", "etcd.password=from-file"}; !slices.Equal(got, want) {
		t.Errorf("settings from the file: %q, want %q", got, want)
	}
	t.Setenv("CHRONIK_METADATA_SET", "etcd.password=from-env")
	if got, want := load(t).Settings, []string{"etcd.password=from-env"}; !slices.Equal(got, want) {
		t.Errorf("settings from CHRONIK_METADATA_SET: %q, want %q", got, want)
	}
}

// TestConfigCommandPrintsEveryKey: `chronik config` prints every key of
// Config once, in configKeys order, with secret backend settings masked.
func TestConfigCommandPrintsEveryKey(t *testing.T) {
	out, err := runChronik(t, "config", "--metadata.set", "etcd.username=chronik", "--metadata.set", "etcd.password=hunter2",
		"--controlled-shutdown.timeout", "7s")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(configKeys) {
		t.Fatalf("%d lines for %d keys:\n%s", len(lines), len(configKeys), out)
	}
	for i, k := range configKeys {
		if !strings.HasPrefix(lines[i], k+": ") {
			t.Errorf("line %d is %q, want key %s", i, lines[i], k)
		}
	}
	rt := reflect.TypeFor[Config]()
	for i := range rt.NumField() {
		if tag := rt.Field(i).Tag.Get("mapstructure"); !slices.Contains(configKeys, tag) {
			t.Errorf("Config field %s (key %q) is not in configKeys", rt.Field(i).Name, tag)
		}
	}
	for _, want := range []string{"metadata.set: etcd.username=chronik,etcd.password=***\n", "controlled-shutdown.timeout: 7s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password is printed:\n%s", out)
	}
}
