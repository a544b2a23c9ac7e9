package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chronik-go/chronik/plugins"
	"github.com/spf13/cobra"
)

func newPluginsCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "list the metadata backend plugins chronik finds, with each one's Info",
		Long: `Lists the built-in backends and every chronik-metadata-NAME executable
found in --plugin-dir, the directory of the chronik binary and PATH (the
first one found wins for each name), starts each once and prints the Info it
answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd.Root().PersistentFlags())
			if err != nil {
				return err
			}
			logger := newLogger(c, cmd.ErrOrStderr())
			found, err := plugins.DiscoverAll(c.PluginDir)
			if err != nil {
				return err
			}
			type candidate struct {
				name, path, shown string
				args              []string
			}
			var all []candidate
			for _, name := range builtinNames() {
				path, args, err := backendCommand(name, "")
				if err != nil {
					return err
				}
				all = append(all, candidate{name, path, "(built-in)", args})
			}
			for _, p := range found {
				if _, builtin := builtinBackends[p.Name]; builtin {
					// --metadata=NAME picks the built-in; say so.
					all = append(all, candidate{p.Name, p.Path, p.Path + " (shadowed by the built-in)", nil})
					continue
				}
				all = append(all, candidate{p.Name, p.Path, p.Path, nil})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tCAPABILITIES\tPATH")
			var failed []string
			for _, p := range all {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				info, err := plugins.Probe(ctx, p.path, p.args, logger)
				cancel()
				if err != nil {
					fmt.Fprintf(tw, "%s\t-\terror: %v\t%s\n", p.name, err, p.shown)
					failed = append(failed, p.name)
					continue
				}
				caps := make([]string, len(info.Capabilities))
				for i, c := range info.Capabilities {
					caps[i] = string(c)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.name, info.Version, strings.Join(caps, ","), p.shown)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(found) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no chronik-metadata-* plugins found")
			}
			if len(failed) > 0 {
				return fmt.Errorf("plugins: %d plugin(s) did not answer Info: %s", len(failed), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for each plugin's Info")
	return cmd
}
