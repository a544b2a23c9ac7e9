package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config describes one load run. The same Config drives every mode; each
// mode ignores the fields it has no use for (Consume does not produce).
type Config struct {
	// Brokers are the seed brokers (host:port).
	Brokers []string
	// Topic is the topic to load; it is created with Partitions
	// partitions and ReplicationFactor replicas each if missing.
	Topic string
	// Partitions is the partition count used when the topic is created.
	Partitions int32
	// ReplicationFactor is the replica count of each partition when the
	// topic is created; 0 leaves it to the broker's default.
	ReplicationFactor int16
	// RecordSize is the value size of each produced record in bytes. E2E
	// needs at least 8 (the send timestamp lives in the value).
	RecordSize int
	// Acks is "0", "1" or "all".
	Acks string
	// Idempotent enables the idempotent producer (needs Acks "all").
	Idempotent bool
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// Linger is the producer's linger (kgo.ProducerLinger).
	Linger time.Duration
	// BatchMaxBytes caps one produced batch (kgo.ProducerBatchMaxBytes);
	// 0 keeps the client default.
	BatchMaxBytes int32
	// Duration bounds the run; 0 means no time bound (Records must be set,
	// or, for Consume, the run ends at the end offsets seen at its start).
	Duration time.Duration
	// Records bounds the number of records; 0 means no count bound.
	Records int64
	// Rate caps production at this many records per second; 0 is as fast
	// as the broker takes them. E2E requires it.
	Rate int
	// FetchMaxBytes caps one fetch response (kgo.FetchMaxBytes); 0 keeps
	// the client default.
	FetchMaxBytes int32
	// WatchPID, if > 0, is a process (the broker) whose resident memory is
	// sampled during the run (Linux /proc) and reported.
	WatchPID int
	// Logger receives client logs at warn and above; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig is the reference load: 1 KiB records, 6
// partitions, acks=all, idempotent, no compression, linger 5 ms, 20 s.
func DefaultConfig() Config {
	return Config{
		Brokers:     []string{"127.0.0.1:9092"},
		Topic:       "chronik-bench",
		Partitions:  6,
		RecordSize:  1024,
		Acks:        "all",
		Idempotent:  true,
		Compression: "none",
		Linger:      5 * time.Millisecond,
		Duration:    20 * time.Second,
	}
}

// ErrConfig is wrapped by every configuration error of this package.
var ErrConfig = errors.New("bench: bad configuration")

// Validate reports every problem of c at once, each wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if len(c.Brokers) == 0 {
		bad("no brokers")
	}
	if c.Topic == "" {
		bad("empty topic")
	}
	if c.Partitions <= 0 {
		bad("partitions %d: must be > 0", c.Partitions)
	}
	if c.ReplicationFactor < 0 {
		bad("replication factor %d: must be >= 0 (0: the broker's default)", c.ReplicationFactor)
	}
	if c.RecordSize < 0 {
		bad("record size %d: must be >= 0", c.RecordSize)
	}
	if _, err := c.acks(); err != nil {
		errs = append(errs, err)
	}
	if c.Idempotent && c.Acks != "all" && c.Acks != "-1" {
		bad("the idempotent producer needs acks=all")
	}
	if _, err := c.codec(); err != nil {
		errs = append(errs, err)
	}
	if c.Linger < 0 || c.Duration < 0 || c.Records < 0 || c.Rate < 0 || c.BatchMaxBytes < 0 || c.FetchMaxBytes < 0 {
		bad("negative linger, duration, records, rate or max bytes")
	}
	return errors.Join(errs...)
}

func (c Config) acks() (kgo.Acks, error) {
	switch c.Acks {
	case "0":
		return kgo.NoAck(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	}
	return kgo.Acks{}, fmt.Errorf("%w: acks %q: want 0, 1 or all", ErrConfig, c.Acks)
}

func (c Config) codec() (kgo.CompressionCodec, error) {
	switch c.Compression {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("%w: compression %q: want none, gzip, snappy, lz4 or zstd", ErrConfig, c.Compression)
}

// clientOpts are the options every client of a run shares.
func (c Config) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID("chronik-bench")}
	if c.Logger != nil {
		opts = append(opts, kgo.WithLogger(slogLogger{c.Logger}))
	}
	return opts
}

// producerOpts are the producing client's options.
func (c Config) producerOpts() ([]kgo.Opt, error) {
	acks, err := c.acks()
	if err != nil {
		return nil, err
	}
	codec, err := c.codec()
	if err != nil {
		return nil, err
	}
	opts := append(c.clientOpts(),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(c.Linger),
	)
	if !c.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if c.BatchMaxBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(c.BatchMaxBytes))
	}
	return opts, nil
}

// slogLogger hands the client's warnings and errors to a slog.Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	s.l.Log(context.Background(), lvl, "kafka client: "+msg, keyvals...)
}
