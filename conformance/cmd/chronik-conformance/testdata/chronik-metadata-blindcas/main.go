// Command chronik-metadata-blindcas is a deliberately broken plugin for the
// CLI's test: the memory backend with a compare-and-set that ignores the
// expected partition epoch. The conformance suite must fail it.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

type blindCAS struct{ metadata.Backend }

func (b blindCAS) Compact(ctx context.Context, rev metadata.Revision) error {
	c, ok := b.Backend.(metadata.Compactor)
	if !ok {
		return fmt.Errorf("compact: %w", metadata.ErrUnsupported)
	}
	return c.Compact(ctx, rev)
}

// AlterPartition retries a stale change with the current epoch: every
// caller wins.
func (b blindCAS) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	p, err := b.Backend.AlterPartition(ctx, ch)
	for errors.Is(err, metadata.ErrStaleEpoch) {
		st, serr := b.Backend.Snapshot(ctx)
		if serr != nil {
			return p, serr
		}
		ch.ExpectedPartitionEpoch = st.Topics[ch.Topic].Partitions[ch.Partition].PartitionEpoch
		p, err = b.Backend.AlterPartition(ctx, ch)
	}
	return p, err
}

func main() {
	f := memory.Factory
	f.Name = "memory-blindcas"
	inner := f.New
	f.New = func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
		b, err := inner(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return blindCAS{b}, nil
	}
	plugins.Serve(f)
}
