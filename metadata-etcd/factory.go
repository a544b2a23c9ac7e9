package etcdmeta

import (
	"context"
	"log/slog"
	"os"
	"slices"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Factory builds the etcd backend from a plugin's Configure call: pass it
// to plugins.Serve in a plugin main (the chronik binary serves it as its
// built-in "etcd" plugin). The settings are the etcd.* keys documented on
// ConfigFromMetadata; the backend logs JSON to stderr in hclog's format, as
// the plugin host reads it.
var Factory = plugins.Factory{
	Name:         Name,
	Version:      Version,
	Capabilities: slices.Clone(Capabilities),
	New: func(ctx context.Context, mc metadata.Config) (metadata.Backend, error) {
		cfg, err := ConfigFromMetadata(mc)
		if err != nil {
			return nil, err
		}
		cfg.Logger = pluginLogger()
		return New(ctx, cfg)
	},
}

// pluginLogger logs JSON lines on stderr with hclog's key names (@level,
// @message, @timestamp), so that the go-plugin host parses them and routes
// them into the broker's log with their levels.
func pluginLogger() *slog.Logger {
	h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "@timestamp"
			case slog.MessageKey:
				a.Key = "@message"
			case slog.LevelKey:
				a.Key = "@level"
				switch l := a.Value.Any().(slog.Level); {
				case l < slog.LevelInfo:
					a.Value = slog.StringValue("debug")
				case l < slog.LevelWarn:
					a.Value = slog.StringValue("info")
				case l < slog.LevelError:
					a.Value = slog.StringValue("warn")
				default:
					a.Value = slog.StringValue("error")
				}
			}
			return a
		},
	})
	return slog.New(h).With("@module", "chronik-metadata-"+Name)
}
