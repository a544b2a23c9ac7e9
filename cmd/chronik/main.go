// Command chronik is the chronik broker: a Kafka-wire-compatible message
// broker whose cluster metadata lives in a pluggable consensus backend.
//
// This binary holds the configuration (flags, a YAML/TOML file and CHRONIK_*
// environment variables, through viper), plugin discovery and, in later
// work, the broker itself.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "chronik",
		Short: "chronik: a Kafka-compatible broker with pluggable consensus metadata",
		Long: `chronik runs a Kafka-compatible broker. With no flags it is a single broker
on 127.0.0.1:9092 with the embedded Raft metadata backend as a one-node
cluster and its data under ./data.`,
		Args:          cobra.NoArgs,
		RunE:          runBroker,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	addConfigFlags(root.PersistentFlags())
	root.AddCommand(newVersionCommand(), newPluginsCommand(), newConfigCommand(), newPluginServeCommand(), newClusterCommand(), newBenchCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the chronik version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			goVersion := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "chronik %s (%s)\n", v, goVersion)
			return err
		},
	}
}

func newConfigCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration (defaults < file < CHRONIK_* env < flags)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd.Root().PersistentFlags())
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), c.String())
			return err
		},
	}
}
