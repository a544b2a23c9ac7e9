package protocol

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
)

// DescribeConfigs (key 32): versions 0-4.
//
// Behaviour:
//   - Topic resources (type 2): every topic config chronik applies
//     (topicconfig.Defs), from this broker's metadata image: a config set
//     on the topic has source DYNAMIC_TOPIC_CONFIG; an unset one the
//     broker's default (Config.TopicDefaults) with source
//     STATIC_BROKER_CONFIG when the broker's configuration changed it from
//     Kafka's default, else DEFAULT_CONFIG. Synonyms (v1+, when asked):
//     the topic value, the broker config holding the default
//     (log.retention.ms for retention.ms, ...) and Kafka's default, most
//     preferred first. Topic configs are not read-only. An invalid name
//     answers INVALID_TOPIC_EXCEPTION, an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - Broker resources (type 4), named by this broker's id: the settings
//     the broker applies — broker.id, auto.create.topics.enable,
//     num.partitions, default.replication.factor and the topic config
//     defaults under their broker names — all read-only (chronik has no
//     dynamic broker configs). An empty name asks for the dynamic broker
//     configs, of which there are none (an empty list, as Kafka). Another
//     broker's id or a non-numeric name: INVALID_REQUEST, as Kafka.
//   - Any other resource type: INVALID_REQUEST.
//   - ConfigNames filters (null: every config; unknown names are left
//     out). Documentation (v3+) only when asked.
//   - Topic resources need the metadata image; before the first one (after
//     waiting up to firstImageWait) they answer REQUEST_TIMED_OUT
//     (retriable).
//
// Version notes: v1 synonyms and config source (v0 has is_default: not
// set on the resource itself); v2 throttle; v3 config type and
// documentation; v4 flexible.

func init() {
	Register(API{Key: 32, MinVersion: 0, MaxVersion: 4, Handle: handleDescribeConfigs})
}

func handleDescribeConfigs(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.DescribeConfigsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: DescribeConfigs handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	var (
		img    *cluster.Image
		imgErr error
		loaded bool
	)
	image := func() (*cluster.Image, error) {
		if !loaded {
			img, imgErr = metadataImage(ctx, b)
			loaded = true
		}
		return img, imgErr
	}
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err := cluster.ValidateTopicName(rr.ResourceName); err != nil {
				res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			img, err := image()
			if err != nil {
				res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			t, ok := img.Topic(rr.ResourceName)
			if !ok {
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
				res.ErrorMessage = messagef("topic %q does not exist", rr.ResourceName)
				break
			}
			entries = topicConfigEntries(t.Configs, b.Config.TopicDefaults)
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName == "" {
				break // dynamic broker configs: none
			}
			if msg := checkBrokerResource(b, rr.ResourceName); msg != nil {
				res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, msg
				break
			}
			entries = brokerConfigEntries(b)
		default:
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = messagef("resource type %d is not supported by DescribeConfigs (topics are type 2, brokers type 4)", rr.ResourceType)
		}
		res.Configs = make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.name) {
				continue
			}
			res.Configs = append(res.Configs, e.describe(req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// checkBrokerResource checks the name of a broker config resource that is
// not empty: it must be this broker's id (a request for another broker's
// configs belongs on that broker). The result is the INVALID_REQUEST
// message, nil when the name is ours.
func checkBrokerResource(b *Broker, name string) *string {
	id, err := strconv.ParseInt(name, 10, 32)
	switch {
	case err != nil:
		return messagef("broker id must be an integer, but it is: %s", name)
	case int32(id) != b.NodeID:
		return messagef("unexpected broker id, expected %d or empty string, but received %s", b.NodeID, name)
	}
	return nil
}

// configEntry is one config as DescribeConfigs (and CreateTopics v5+)
// report it.
type configEntry struct {
	name     string
	value    string
	source   kmsg.ConfigSource
	typ      kmsg.ConfigType
	doc      string
	readOnly bool
	synonyms []configSynonym // most preferred first, the entry itself included
}

type configSynonym struct {
	name   string
	value  string
	source kmsg.ConfigSource
}

// describe renders e for a DescribeConfigs response; the kmsg encoder
// drops the fields a version lacks.
func (e configEntry) describe(synonyms, doc bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.name
	c.Value = kmsg.StringPtr(e.value)
	c.ReadOnly = e.readOnly
	c.Source = e.source
	c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig || e.source == kmsg.ConfigSourceStaticBrokerConfig
	c.ConfigType = e.typ
	if doc && e.doc != "" {
		c.Documentation = kmsg.StringPtr(e.doc)
	}
	if synonyms {
		for _, s := range e.synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.name, kmsg.StringPtr(s.value), s.source
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}

// topicConfigEntries returns every config of topicconfig.Defs for a topic
// whose stored configs are set, over the broker defaults. Stored names
// chronik does not apply are left out.
func topicConfigEntries(set map[string]string, defaults topicconfig.Values) []configEntry {
	broker, kafka := defaults.Strings(), topicconfig.Defaults().Strings()
	out := make([]configEntry, 0, len(topicconfig.Defs))
	for _, d := range topicconfig.Defs {
		e := configEntry{name: d.Name, typ: kmsg.ConfigType(d.Type), doc: d.Doc}
		if v, ok := set[d.Name]; ok {
			e.synonyms = append(e.synonyms, configSynonym{d.Name, v, kmsg.ConfigSourceDynamicTopicConfig})
		}
		e.synonyms = append(e.synonyms, brokerDefaultSynonyms(d.BrokerName, broker[d.Name], kafka[d.Name])...)
		e.value, e.source = e.synonyms[0].value, e.synonyms[0].source
		out = append(out, e)
	}
	return out
}

// brokerDefaultSynonyms are the synonyms of a broker-level default: the
// broker's setting when its configuration changed it (static), then
// Kafka's default.
func brokerDefaultSynonyms(name, value, kafkaDefault string) []configSynonym {
	if value != kafkaDefault {
		return []configSynonym{
			{name, value, kmsg.ConfigSourceStaticBrokerConfig},
			{name, kafkaDefault, kmsg.ConfigSourceDefaultConfig},
		}
	}
	return []configSynonym{{name, value, kmsg.ConfigSourceDefaultConfig}}
}

// brokerConfigEntries returns the broker settings chronik applies, sorted
// by name, all read-only.
func brokerConfigEntries(b *Broker) []configEntry {
	kafka := DefaultConfig()
	entry := func(name string, typ kmsg.ConfigType, doc, value, kafkaDefault string) configEntry {
		syn := brokerDefaultSynonyms(name, value, kafkaDefault)
		return configEntry{name: name, value: value, source: syn[0].source, typ: typ, doc: doc, readOnly: true, synonyms: syn}
	}
	id := strconv.FormatInt(int64(b.NodeID), 10)
	out := []configEntry{
		{name: "broker.id", value: id, source: kmsg.ConfigSourceStaticBrokerConfig, typ: kmsg.ConfigTypeInt,
			doc: "this broker's id", readOnly: true, synonyms: []configSynonym{{"broker.id", id, kmsg.ConfigSourceStaticBrokerConfig}}},
		entry("auto.create.topics.enable", kmsg.ConfigTypeBoolean, "create unknown topics named in Metadata requests",
			strconv.FormatBool(b.Config.AutoCreateTopics), strconv.FormatBool(kafka.AutoCreateTopics)),
		entry("num.partitions", kmsg.ConfigTypeInt, "partitions of auto-created topics and of CreateTopics requests that leave them at -1",
			strconv.FormatInt(int64(b.Config.DefaultPartitions), 10), strconv.FormatInt(int64(kafka.DefaultPartitions), 10)),
		entry("default.replication.factor", kmsg.ConfigTypeInt, "replication factor of auto-created topics and of CreateTopics requests that leave it at -1",
			strconv.FormatInt(int64(b.Config.DefaultReplicationFactor), 10), strconv.FormatInt(int64(kafka.DefaultReplicationFactor), 10)),
	}
	broker, kafkaTopic := b.Config.TopicDefaults.Strings(), topicconfig.Defaults().Strings()
	for _, d := range topicconfig.Defs {
		out = append(out, entry(d.BrokerName, kmsg.ConfigType(d.Type), d.Doc, broker[d.Name], kafkaTopic[d.Name]))
	}
	slices.SortFunc(out, func(a, b configEntry) int { return strings.Compare(a.name, b.name) })
	return out
}
