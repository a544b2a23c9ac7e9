package protocol

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/topicconfig"
)

// IncrementalAlterConfigs (key 44): versions 0-1.
//
// Behaviour:
//   - Topic resources (type 2): the operations apply in order to the
//     topic's stored configs from this broker's metadata image — SET (value
//     required: INVALID_REQUEST without one), DELETE (back to the broker
//     default), APPEND and SUBTRACT (list configs only, e.g.
//     cleanup.policy, else INVALID_CONFIG; on an unset config they start
//     from the broker default, as Kafka) — and the result is checked with
//     topicconfig (unknown name or bad value: INVALID_CONFIG) and written
//     through the backend like AlterConfigs. The read-modify-write is a
//     compare-and-set on the set it read: when another change came first,
//     or this broker's image was behind the backend, the operations apply
//     again to the newer set (see cluster.AlterTopicConfigs), so, as with
//     Kafka's controller, concurrent changes of one topic through any
//     brokers all take effect. A config named twice in one resource
//     answers INVALID_REQUEST, an unknown operation INVALID_REQUEST, an
//     unknown topic UNKNOWN_TOPIC_OR_PARTITION.
//   - Broker resources (type 4): as AlterConfigs — chronik has no dynamic
//     broker configs (INVALID_REQUEST when any is changed).
//   - Other resource types: INVALID_REQUEST; a resource named twice:
//     INVALID_REQUEST ("Duplicate resource."), once.
//   - validate_only checks everything and changes nothing; each write is
//     bounded by defaultAdminTimeout.
//
// Version notes: v1 flexible.

func init() {
	Register(API{Key: 44, MinVersion: 0, MaxVersion: 1, Handle: handleIncrementalAlterConfigs})
}

func handleIncrementalAlterConfigs(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: IncrementalAlterConfigs handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()

	alts := make([]configAlteration, len(req.Resources))
	for i, rr := range req.Resources {
		alts[i] = configAlteration{res: configResource{rr.ResourceType, rr.ResourceName}, n: len(rr.Configs),
			malformed: func() *string { return checkIncrementalOps(rr.Configs) },
			change: func(cur map[string]string) (map[string]string, error) {
				return applyIncrementalOps(cur, rr.Configs, b.Config.TopicDefaults)
			}}
	}
	alterConfigResources(ctx, b, r, req.ValidateOnly, alts, func(i int, code int16, msg *string) {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
		res.ErrorCode, res.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, res)
	})
	return resp, nil
}

// checkIncrementalOps returns the INVALID_REQUEST message for malformed
// operations (a config named twice, an unknown operation, SET, APPEND or
// SUBTRACT without a value), nil when they are well formed.
func checkIncrementalOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) *string {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return messagef("Error due to duplicate config keys: %s", op.Name)
		}
		seen[op.Name] = true
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpDelete:
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if op.Value == nil {
				return messagef("Null value not supported for %s with operation %s", op.Name, op.Op)
			}
		default:
			return messagef("Unknown alter configs operation %d for %s", op.Op, op.Name)
		}
	}
	return nil
}

// applyIncrementalOps returns cur (not modified) with ops applied; ops are
// well formed (checkIncrementalOps). List operations on an unset config
// start from the broker default in defaults.
func applyIncrementalOps(cur map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, defaults topicconfig.Values) (map[string]string, error) {
	next := maps.Clone(cur)
	if next == nil {
		next = make(map[string]string, len(ops))
	}
	var brokerDefaults map[string]string
	for _, op := range ops {
		def, ok := topicconfig.Lookup(op.Name)
		if !ok {
			return nil, fmt.Errorf("%w %q", topicconfig.ErrUnknown, op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			next[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != topicconfig.TypeList {
				return nil, fmt.Errorf("%w: %s is not a list config; %s applies only to lists", topicconfig.ErrInvalid, op.Name, op.Op)
			}
			base, set := next[op.Name]
			if !set {
				if brokerDefaults == nil {
					brokerDefaults = defaults.Strings()
				}
				base = brokerDefaults[op.Name]
			}
			items := splitList(base)
			for _, v := range splitList(*op.Value) {
				has := slices.Contains(items, v)
				switch {
				case op.Op == kmsg.IncrementalAlterConfigOpAppend && !has:
					items = append(items, v)
				case op.Op == kmsg.IncrementalAlterConfigOpSubtract && has:
					items = slices.DeleteFunc(items, func(s string) bool { return s == v })
				}
			}
			next[op.Name] = strings.Join(items, ",")
		}
	}
	return next, nil
}

// splitList splits a list config value at commas, trimming spaces and
// dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
