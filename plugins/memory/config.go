package memory

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Name and Version identify the backend in Info.
const (
	Name    = "memory"
	Version = "0.1.0"
)

// DefaultHistoryLimit is how many change batches a Store keeps for Watch
// when Config.HistoryLimit is zero.
const DefaultHistoryLimit = 4096

// Capabilities are what the memory backend implements: several nodes of one
// cluster (handles or plugin processes sharing one Store) and Compact. It
// neither persists nor fails over.
var Capabilities = []metadata.Capability{metadata.CapMultiNode, metadata.CapCompact, metadata.CapTopicUpdates}

// Config configures a Store.
type Config struct {
	// NodeID is the id of the node holding the store; Info reports it as the
	// leader and as the NodeID of the Store itself. May be empty.
	NodeID string
	// Peers are reported as Info.Members (the first one holding the store).
	// Empty: the store's own node only.
	Peers []metadata.Peer
	// SessionTimeout is how long a broker session lives without a
	// heartbeat; zero means metadata.DefaultSessionTimeout.
	SessionTimeout time.Duration
	// HistoryLimit is how many change batches are kept for Watch; zero
	// means DefaultHistoryLimit.
	HistoryLimit int
	// InitialRevision is the revision of the empty state. A store that
	// replaces an earlier one (a restart: memory keeps nothing) should start
	// above every revision the earlier one handed out, so that no revision
	// is reused and old resume points fail with ErrCompacted.
	InitialRevision metadata.Revision
	// Logger receives the store's few logs (fencing); nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default spelled out.
func DefaultConfig() Config {
	return Config{
		SessionTimeout: metadata.DefaultSessionTimeout,
		HistoryLimit:   DefaultHistoryLimit,
	}
}

// Validate reports a Config that NewStore would refuse, wrapping
// metadata.ErrInvalid.
func (c Config) Validate() error {
	if c.SessionTimeout < 0 {
		return fmt.Errorf("memory: negative session timeout %v: %w", c.SessionTimeout, metadata.ErrInvalid)
	}
	if c.HistoryLimit < 0 {
		return fmt.Errorf("memory: negative history limit %d: %w", c.HistoryLimit, metadata.ErrInvalid)
	}
	if c.InitialRevision < 0 {
		return fmt.Errorf("memory: negative initial revision %d: %w", c.InitialRevision, metadata.ErrInvalid)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout == 0 {
		c.SessionTimeout = metadata.DefaultSessionTimeout
	}
	if c.HistoryLimit == 0 {
		c.HistoryLimit = DefaultHistoryLimit
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
