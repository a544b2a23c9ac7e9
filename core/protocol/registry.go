package protocol

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandlerFunc serves one request of an API.
//
// It returns the response (built from r.Body.ResponseKind(), so that its
// version matches the request) with any Kafka error codes in it: Kafka
// errors are response data. A non-nil Go error means the connection is
// broken: the server writes no response for the request, closes the
// connection and logs the error; use it for requests that cannot be
// answered at all, never for a Kafka-level failure.
//
// (nil, nil) means the request has no response (a Produce with acks=0): the
// server writes nothing for it and keeps the order of the responses around
// it. (Kafka closes the connection when an acks=0 produce fails, the only
// signal such a client gets: return a Go error for that.) A handler whose answer has to wait (a long-polling Fetch, acks=all)
// returns r.Defer(wait) instead of blocking; see Request.Defer.
//
// Calls for one connection are sequential and in request order: a handler
// returns (or defers) before the next request of its connection is handed
// to a handler, so the effects of one request precede the next one's (an
// idempotent producer's pipelined batches depend on it). Calls for
// different connections run concurrently. ctx is cancelled when the
// connection closes or the server shuts down; a handler that blocks must
// return promptly then.
type HandlerFunc func(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error)

// API is one Kafka API the broker serves: a key, the versions implemented
// and tested (and so advertised in ApiVersions), and its handler.
type API struct {
	// Key is the Kafka api key (kmsg must know it).
	Key int16
	// MinVersion and MaxVersion bound the versions served, inclusive.
	// A request outside them closes the connection, as in Kafka, unless
	// AnswersUnsupportedVersions is set.
	MinVersion, MaxVersion int16
	// Handle serves a request.
	Handle HandlerFunc
	// AnswersUnsupportedVersions makes the server call Handle for a
	// version outside [MinVersion, MaxVersion] instead of closing the
	// connection; the body is then not decoded (r.Body is an empty
	// request at r.Header.Version). Only ApiVersions does this, to
	// answer UNSUPPORTED_VERSION (KIP-511).
	AnswersUnsupportedVersions bool
}

// Name is the API's Kafka name (kmsg.NameForKey), e.g. "ApiVersions".
func (a API) Name() string { return kmsg.NameForKey(a.Key) }

// Supports reports whether version is within [MinVersion, MaxVersion].
func (a API) Supports(version int16) bool {
	return version >= a.MinVersion && version <= a.MaxVersion
}

// Registry maps api keys to APIs. Lookups are lock-free and safe
// concurrently with Register; Register is serialized. The zero value is not
// usable; call NewRegistry.
type Registry struct {
	mu    sync.Mutex // serializes Register
	table atomic.Pointer[registryTable]
}

// registryTable is an immutable snapshot: replaced, never modified.
type registryTable struct {
	byKey  []API // indexed by key; Handle == nil where nothing is registered
	sorted []API // by key
}

// NewRegistry returns an empty registry. The broker uses the package's
// default registry (Default), filled by the init functions of the API
// files; separate registries are for tests that want a chosen set of APIs.
func NewRegistry() *Registry {
	r := &Registry{}
	r.table.Store(&registryTable{})
	return r
}

// Register adds api. It panics on a programming error: a nil handler, a key
// kmsg does not know, an empty or negative version range, a MaxVersion kmsg
// cannot decode, or a key registered twice. Safe for concurrent use.
func (r *Registry) Register(api API) {
	if api.Handle == nil {
		panic(fmt.Sprintf("protocol: api key %d registered without a handler", api.Key))
	}
	proto := kmsg.RequestForKey(api.Key)
	if proto == nil {
		panic(fmt.Sprintf("protocol: api key %d is not a Kafka request kmsg knows", api.Key))
	}
	if api.MinVersion < 0 || api.MaxVersion < api.MinVersion {
		panic(fmt.Sprintf("protocol: %s registered with versions %d to %d", api.Name(), api.MinVersion, api.MaxVersion))
	}
	if api.MaxVersion > proto.MaxVersion() {
		panic(fmt.Sprintf("protocol: %s registered up to version %d, kmsg decodes up to %d", api.Name(), api.MaxVersion, proto.MaxVersion()))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if int(api.Key) < len(old.byKey) && old.byKey[api.Key].Handle != nil {
		panic(fmt.Sprintf("protocol: %s (key %d) registered twice", api.Name(), api.Key))
	}
	byKey := make([]API, max(len(old.byKey), int(api.Key)+1))
	copy(byKey, old.byKey)
	byKey[api.Key] = api
	sorted := append(slices.Clone(old.sorted), api)
	slices.SortFunc(sorted, func(a, b API) int { return cmp.Compare(a.Key, b.Key) })
	r.table.Store(&registryTable{byKey: byKey, sorted: sorted})
}

// Lookup returns the API registered for key. Lock-free; safe for concurrent
// use.
func (r *Registry) Lookup(key int16) (API, bool) {
	t := r.table.Load()
	if key < 0 || int(key) >= len(t.byKey) || t.byKey[key].Handle == nil {
		return API{}, false
	}
	return t.byKey[key], true
}

// APIs returns every registered API sorted by key, in a new slice. Safe for
// concurrent use.
func (r *Registry) APIs() []API {
	return slices.Clone(r.table.Load().sorted)
}

// defaultRegistry is the broker's registry. It is package state on purpose:
// the init function of each API file (NN_name.go) registers into it, so
// adding a file is all it takes to serve an API. It holds no configuration
// and no per-broker state.
var defaultRegistry = NewRegistry()

// Default returns the registry the API files of this package register into.
func Default() *Registry { return defaultRegistry }

// Register adds api to the default registry; each API file calls it from
// init. It panics like Registry.Register.
func Register(api API) { defaultRegistry.Register(api) }

// Lookup returns the API registered for key in the default registry.
func Lookup(key int16) (API, bool) { return defaultRegistry.Lookup(key) }

// APIs returns the default registry's APIs sorted by key.
func APIs() []API { return defaultRegistry.APIs() }
