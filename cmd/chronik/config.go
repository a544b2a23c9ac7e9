package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the whole configuration of the chronik binary. It is filled, in
// rising precedence, from defaults, a config file (YAML or TOML, --config),
// CHRONIK_* environment variables and command-line flags.
type Config struct {
	// ConfigFile is the config file that was read, if any.
	ConfigFile string `mapstructure:"config"`
	// Metadata names the metadata backend: a built-in ("raft", "etcd"), a
	// plugin name NAME (found as chronik-metadata-NAME) or a path.
	Metadata string `mapstructure:"metadata"`
	// PluginDir is searched first for chronik-metadata-NAME plugins.
	PluginDir string `mapstructure:"plugin-dir"`
	// DataDir holds everything the broker and its backend keep on disk.
	DataDir string `mapstructure:"data-dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `mapstructure:"log-level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log-format"`
}

// DefaultConfig is what chronik runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		Metadata:  "raft",
		DataDir:   "./data",
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Metadata) == "" {
		errs = append(errs, errors.New("metadata: must name a backend (raft, etcd, a plugin name or a path)"))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		errs = append(errs, fmt.Errorf("log-format: %q is not text or json", c.LogFormat))
	}
	if c.PluginDir != "" {
		if st, err := os.Stat(c.PluginDir); err != nil {
			errs = append(errs, fmt.Errorf("plugin-dir: %w", err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Errorf("plugin-dir: %s is not a directory", c.PluginDir))
		}
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// addConfigFlags declares the flags every command shares.
func addConfigFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("config", "", "config file (YAML or TOML, by extension)")
	fs.String("metadata", d.Metadata, "metadata backend: raft, etcd, a plugin name NAME (chronik-metadata-NAME) or a path")
	fs.String("plugin-dir", d.PluginDir, "directory searched first for chronik-metadata-* plugins")
	fs.String("data-dir", d.DataDir, "data directory")
	fs.String("log-level", d.LogLevel, "log level: debug, info, warn, error")
	fs.String("log-format", d.LogFormat, "log format: text or json")
}

// loadConfig builds the Config from, in rising precedence: defaults, the
// config file named by --config (or CHRONIK_CONFIG), CHRONIK_* environment
// variables (CHRONIK_DATA_DIR sets data-dir) and flags set on the command line.
func loadConfig(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	d := DefaultConfig()
	for k, val := range map[string]string{
		"metadata": d.Metadata, "plugin-dir": d.PluginDir, "data-dir": d.DataDir,
		"log-level": d.LogLevel, "log-format": d.LogFormat,
	} {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("CHRONIK")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if file := v.GetString("config"); file != "" {
		switch ext := strings.TrimPrefix(filepath.Ext(file), "."); ext {
		case "yaml", "yml", "toml":
		default:
			return Config{}, fmt.Errorf("config %s: unknown format %q (use .yaml, .yml or .toml)", file, ext)
		}
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", file, err)
		}
	}
	var c Config
	// UnmarshalExact refuses keys the Config does not have (a typo in the
	// config file is an error, not a silently ignored setting).
	if err := v.UnmarshalExact(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
