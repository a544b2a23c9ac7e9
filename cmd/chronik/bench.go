package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chronik-go/chronik/internal/bench"
)

// newBenchCommand is `chronik bench produce|consume|e2e`: a load tool for
// any Kafka-compatible broker, like kafka-producer-perf-test, on franz-go.
func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "load-test any Kafka-compatible broker (produce, consume, end-to-end latency)",
		Long: `chronik bench drives a Kafka-compatible broker with the franz-go client and
reports records/s, MiB/s, latency percentiles and errors.

  chronik bench produce --brokers 127.0.0.1:9092 --duration 20s
  chronik bench consume --brokers 127.0.0.1:9092
  chronik bench e2e --brokers 127.0.0.1:9092 --rate 1000 --linger 0 --duration 20s

The topic is created if missing. Defaults: 1 KiB records, 6 partitions,
acks=all, idempotent, no compression, linger 5ms.`,
	}
	cmd.AddCommand(
		newBenchModeCommand("produce", "produce records as fast as the broker takes them (or at --rate) and report ack latency", bench.Produce),
		newBenchModeCommand("consume", "consume the topic from its start to the end offsets it has when the run begins", bench.Consume),
		newBenchModeCommand("e2e", "produce at --rate and consume at the same time; report produce-to-consume latency", bench.E2E),
		newBenchKfakeCommand(),
	)
	return cmd
}

type benchFunc func(ctx context.Context, c bench.Config) (bench.Report, error)

// newBenchModeCommand is one `chronik bench MODE`.
func newBenchModeCommand(mode, short string, run benchFunc) *cobra.Command {
	c := bench.DefaultConfig()
	var brokers string
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   mode,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Brokers = strings.Split(brokers, ",")
			if verbose {
				c.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			if mode == "consume" && !cmd.Flags().Changed("duration") {
				c.Duration = 0 // consume to the end offsets, however long it takes
			}
			r, err := run(cmd.Context(), c)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokers, "brokers", strings.Join(c.Brokers, ","), "seed brokers, comma-separated host:port")
	addBenchFlags(f, &c, mode)
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&verbose, "verbose", false, "log the client's warnings and errors to stderr")
	return cmd
}

func addBenchFlags(f *pflag.FlagSet, c *bench.Config, mode string) {
	f.StringVar(&c.Topic, "topic", c.Topic, "topic (created if missing, with --partitions)")
	f.Int32Var(&c.Partitions, "partitions", c.Partitions, "partitions of the topic when it is created")
	f.Int16Var(&c.ReplicationFactor, "replication-factor", c.ReplicationFactor, "replicas of each partition when the topic is created (0: the broker's default)")
	f.IntVar(&c.RecordSize, "record-size", c.RecordSize, "record value size in bytes")
	f.StringVar(&c.Acks, "acks", c.Acks, "required acks: 0, 1 or all")
	f.BoolVar(&c.Idempotent, "idempotent", c.Idempotent, "idempotent producer (needs --acks all)")
	f.StringVar(&c.Compression, "compression", c.Compression, "none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&c.Linger, "linger", c.Linger, "producer linger")
	f.Int32Var(&c.BatchMaxBytes, "batch-max-bytes", 0, "max bytes of one produced batch (0: client default)")
	durHelp := "how long to run (0: until --records)"
	if mode == "consume" {
		durHelp = "stop after this long (default: at the end offsets seen at the start)"
	}
	f.DurationVar(&c.Duration, "duration", c.Duration, durHelp)
	f.Int64Var(&c.Records, "records", 0, "stop after this many records (0: no limit)")
	rate := 0
	if mode == "e2e" {
		rate = 1000
	}
	c.Rate = rate
	f.IntVar(&c.Rate, "rate", rate, "records per second (0: as fast as possible)")
	f.Int32Var(&c.FetchMaxBytes, "fetch-max-bytes", 0, "max bytes of one fetch response (0: client default)")
	f.IntVar(&c.WatchPID, "watch-pid", 0, "sample this process's resident memory (the broker's pid, Linux) and report it")
}

// newBenchKfakeCommand is the hidden `chronik bench peer-kfake`: the
// reference broker of the performance comparison (franz-go's kfake, one
// broker, its log on disk), run from this repository for reproducibility.
func newBenchKfakeCommand() *cobra.Command {
	var c bench.KfakeConfig
	cmd := &cobra.Command{
		Use:    "peer-kfake",
		Short:  "run franz-go's kfake (1 broker, data on disk) as the reference peer",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunKfake(cmd.Context(), c, func(addr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "kfake listening on %s\n", addr)
			})
		},
	}
	cmd.Flags().StringVar(&c.Listen, "listen", "127.0.0.1:9092", "Kafka listen address")
	cmd.Flags().StringVar(&c.DataDir, "data-dir", "", "persist the log under this directory (kfake.DataDir); empty: in memory")
	cmd.Flags().BoolVar(&c.SyncWrites, "sync", false, "fsync every write (kfake.SyncWrites)")
	return cmd
}
