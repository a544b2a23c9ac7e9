package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
)

// AlterConfigs (key 33): versions 0-2.
//
// Behaviour (the legacy, non-incremental API):
//   - Topic resources (type 2): the request's configs replace the topic's
//     whole config set (a config left out returns to the broker default; a
//     null value leaves it unset, as Kafka). Names and values are checked
//     with topicconfig (unknown name or bad value: INVALID_CONFIG); the
//     new set is written through the backend as a compare-and-set on the
//     set it replaces (Cluster.AlterTopicConfigs) and answered once this
//     broker's image has it, so every broker applies it. An unknown topic answers UNKNOWN_TOPIC_OR_PARTITION, a
//     bad name INVALID_TOPIC_EXCEPTION; a backend without topic updates
//     UNSUPPORTED_VERSION with a message.
//   - Broker resources (type 4, empty name or this broker's id): chronik
//     has no dynamic broker configs, so a request that sets any answers
//     INVALID_REQUEST saying so (Kafka's answer for a config that cannot
//     change at run time); an empty set is a no-op. Another broker's id:
//     INVALID_REQUEST.
//   - Any other resource type: INVALID_REQUEST. A resource named twice:
//     INVALID_REQUEST ("Duplicate resource."), once, as Kafka.
//   - validate_only checks everything and changes nothing.
//   - The request carries no timeout: each write is bounded by
//     defaultAdminTimeout (REQUEST_TIMED_OUT past it).
//
// Version notes: v1 throttle; v2 flexible.

func init() {
	Register(API{Key: 33, MinVersion: 0, MaxVersion: 2, Handle: handleAlterConfigs})
}

// configResource identifies a resource of a config request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

func handleAlterConfigs(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.AlterConfigsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: AlterConfigs handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()

	alts := make([]configAlteration, len(req.Resources))
	for i, rr := range req.Resources {
		alts[i] = configAlteration{res: configResource{rr.ResourceType, rr.ResourceName}, n: len(rr.Configs),
			change: func(map[string]string) (map[string]string, error) {
				set := make(map[string]string, len(rr.Configs))
				for _, c := range rr.Configs {
					if _, known := topicconfig.Lookup(c.Name); !known {
						return nil, fmt.Errorf("%w %q", topicconfig.ErrUnknown, c.Name)
					}
					if c.Value == nil {
						delete(set, c.Name)
						continue
					}
					set[c.Name] = *c.Value
				}
				return set, nil
			}}
	}
	alterConfigResources(ctx, b, r, req.ValidateOnly, alts, func(i int, code int16, msg *string) {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
		res.ErrorCode, res.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, res)
	})
	return resp, nil
}

// configAlteration is one resource of an AlterConfigs or
// IncrementalAlterConfigs request.
type configAlteration struct {
	res configResource
	// n is the number of configs the resource names.
	n int
	// malformed, if set, returns the INVALID_REQUEST message for a
	// malformed topic resource, nil when it is well formed.
	malformed func() *string
	// change computes a topic's new config set (see alterTopicConfigs).
	change func(cur map[string]string) (map[string]string, error)
}

// alterConfigResources applies the alterations of one request in order and
// calls answer once per distinct resource, at its first occurrence (index
// into alts), with its error code and message: a resource named twice
// answers INVALID_REQUEST ("Duplicate resource."), as Kafka; topics go
// through alterTopicConfigs, brokers through alterBrokerConfigs, other
// types answer INVALID_REQUEST.
func alterConfigResources(ctx context.Context, b *Broker, r *Request, validateOnly bool, alts []configAlteration, answer func(i int, code int16, msg *string)) {
	api := kmsg.NameForKey(r.Header.Key)
	count := make(map[configResource]int, len(alts))
	for _, a := range alts {
		count[a.res]++
	}
	answered := make(map[configResource]bool, len(alts))
	for i, a := range alts {
		if answered[a.res] {
			continue
		}
		answered[a.res] = true
		var code int16
		var msg *string
		switch {
		case count[a.res] > 1:
			code, msg = kerr.InvalidRequest.Code, messagef("Duplicate resource.")
		case a.res.typ == kmsg.ConfigResourceTypeTopic:
			if a.malformed != nil {
				if msg = a.malformed(); msg != nil {
					code = kerr.InvalidRequest.Code
					break
				}
			}
			err := alterTopicConfigs(ctx, b, a.res.name, validateOnly, a.change)
			code, msg = errorCode(err), errorMessage(err)
		case a.res.typ == kmsg.ConfigResourceTypeBroker:
			code, msg = alterBrokerConfigs(b, a.res.name, a.n)
		default:
			code = kerr.InvalidRequest.Code
			msg = messagef("resource type %d is not supported by %s (topics are type 2, brokers type 4)", a.res.typ, api)
		}
		if code != 0 {
			r.Logger.Debug(api+" refused a resource", "type", a.res.typ, "name", a.res.name, "error_code", code)
		}
		answer(i, code, msg)
	}
}

// alterTopicConfigs computes a topic's new config set with change (given
// the current stored set, which it must not modify), validates it and,
// unless validateOnly, writes it through the backend as a compare-and-set
// on the set change was given (Cluster.AlterTopicConfigs, which runs
// change again on a newer set when another change came first, so none is
// lost). A topic created through another broker a moment ago, not yet in
// this broker's image, is found (cluster.ValidateAlterTopicConfigs and
// AlterTopicConfigs look again after a barrier).
func alterTopicConfigs(ctx context.Context, b *Broker, topic string, validateOnly bool, change func(cur map[string]string) (map[string]string, error)) error {
	if err := cluster.ValidateTopicName(topic); err != nil {
		return err
	}
	validated := func(cur map[string]string) (map[string]string, error) {
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		if err := topicconfig.Validate(next); err != nil {
			return nil, err
		}
		return next, nil
	}
	if validateOnly {
		return b.Cluster.ValidateAlterTopicConfigs(ctx, topic, validated)
	}
	_, err := b.Cluster.AlterTopicConfigs(ctx, topic, validated)
	return err
}

// alterBrokerConfigs answers a request to change n configs of a broker
// resource: chronik's broker settings come from its configuration and do
// not change at run time.
func alterBrokerConfigs(b *Broker, name string, n int) (int16, *string) {
	if name != "" {
		if msg := checkBrokerResource(b, name); msg != nil {
			return kerr.InvalidRequest.Code, msg
		}
	}
	if n == 0 {
		return 0, nil
	}
	return kerr.InvalidRequest.Code, messagef("chronik has no dynamic broker configs: set broker settings in the broker's configuration and restart it; topic configs can be altered per topic")
}
