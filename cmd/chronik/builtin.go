package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	raftmeta "github.com/chronik-go/chronik/metadata-raft"
	"github.com/chronik-go/chronik/plugins"
)

// pluginCommandName is the hidden subcommand with which chronik starts
// itself as one of its built-in metadata plugins: built-ins cross the same
// go-plugin boundary as third-party plugins.
const pluginCommandName = "metadata-plugin"

// builtinBackends are the metadata backends compiled into chronik.
var builtinBackends = map[string]plugins.Factory{
	raftmeta.Name: raftmeta.Factory,
	etcdmeta.Name: etcdmeta.Factory,
}

func builtinNames() []string {
	names := make([]string, 0, len(builtinBackends))
	for n := range builtinBackends {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// backendCommand says how to start the plugin process of the backend named
// by name: a built-in runs this very binary with the hidden subcommand, a
// plugin name or path resolves through plugins.Discover.
func backendCommand(name, pluginDir string) (path string, args []string, err error) {
	if _, ok := builtinBackends[name]; ok {
		self, err := os.Executable()
		if err != nil {
			return "", nil, fmt.Errorf("metadata %s: locating the chronik binary: %w", name, err)
		}
		return self, []string{pluginCommandName, name}, nil
	}
	path, err = plugins.Discover(name, pluginDir)
	if err != nil {
		return "", nil, fmt.Errorf("metadata %q is not a built-in backend (%s) and no plugin: %w",
			name, strings.Join(builtinNames(), ", "), err)
	}
	return path, nil, nil
}

func newPluginServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:    pluginCommandName + " NAME",
		Short:  "serve a built-in metadata backend as a go-plugin process (started by chronik itself)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, ok := builtinBackends[args[0]]
			if !ok {
				return fmt.Errorf("%s: no built-in metadata backend %q (have %s)", pluginCommandName, args[0], strings.Join(builtinNames(), ", "))
			}
			plugins.Serve(f)
			return nil
		},
	}
}
