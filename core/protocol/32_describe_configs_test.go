package protocol

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/topicconfig"
)

func describeConfigsReq(v int16, synonyms, doc bool, resources ...kmsg.DescribeConfigsRequestResource) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation, req.Resources = v, synonyms, doc, resources
	return req
}

func configResourceReq(typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsRequestResource {
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, names
	return rr
}

func findConfig(t *testing.T, res kmsg.DescribeConfigsResponseResource, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	for _, c := range res.Configs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("config %s not described (%d configs)", name, len(res.Configs))
	return kmsg.DescribeConfigsResponseResourceConfig{}
}

func synonymList(c kmsg.DescribeConfigsResponseResourceConfig) []string {
	var out []string
	for _, s := range c.ConfigSynonyms {
		out = append(out, s.Name+"="+*s.Value+"@"+s.Source.String())
	}
	return out
}

// TestDescribeConfigsTopicEveryVersion: a topic's configs over the broker
// defaults, with sources, synonyms, types and documentation as each
// version carries them.
func TestDescribeConfigsTopicEveryVersion(t *testing.T) {
	_, b := oneBroker(t)
	b.Config.TopicDefaults.RetentionBytes = 1 << 30 // a broker setting that differs from Kafka's default
	mustCreateTopic(t, b, "described", 1, 1, nil, map[string]string{"retention.ms": "60000"})

	for v := int16(0); v <= 4; v++ {
		for _, extras := range []bool{false, true} {
			resp := roundTrip[*kmsg.DescribeConfigsResponse](t, b, describeConfigsReq(v, extras, extras,
				configResourceReq(kmsg.ConfigResourceTypeTopic, "described")))
			res := resp.Resources[0]
			if res.ErrorCode != 0 || res.ResourceName != "described" || res.ResourceType != kmsg.ConfigResourceTypeTopic || len(res.Configs) != len(topicconfig.Defs) {
				t.Fatalf("v%d: %+v", v, res)
			}
			set := findConfig(t, res, "retention.ms")
			static := findConfig(t, res, "retention.bytes")
			kafka := findConfig(t, res, "segment.bytes")
			if *set.Value != "60000" || *static.Value != "1073741824" || *kafka.Value != "1073741824" || set.ReadOnly || set.IsSensitive {
				t.Fatalf("v%d: values %s %s %s", v, *set.Value, *static.Value, *kafka.Value)
			}
			if v == 0 {
				if set.IsDefault || !static.IsDefault || !kafka.IsDefault {
					t.Fatalf("v0: is_default %v %v %v", set.IsDefault, static.IsDefault, kafka.IsDefault)
				}
				continue
			}
			if set.Source != kmsg.ConfigSourceDynamicTopicConfig || static.Source != kmsg.ConfigSourceStaticBrokerConfig || kafka.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("v%d: sources %v %v %v", v, set.Source, static.Source, kafka.Source)
			}
			wantSyn := map[string][]string{
				"retention.ms":    {"retention.ms=60000@DYNAMIC_TOPIC_CONFIG", "log.retention.ms=604800000@DEFAULT_CONFIG"},
				"retention.bytes": {"log.retention.bytes=1073741824@STATIC_BROKER_CONFIG", "log.retention.bytes=-1@DEFAULT_CONFIG"},
				"segment.bytes":   {"log.segment.bytes=1073741824@DEFAULT_CONFIG"},
			}
			for _, c := range []kmsg.DescribeConfigsResponseResourceConfig{set, static, kafka} {
				got := synonymList(c)
				if !extras {
					if len(got) != 0 {
						t.Fatalf("v%d: synonyms %v not asked for", v, got)
					}
					continue
				}
				if !slices.Equal(got, wantSyn[c.Name]) {
					t.Fatalf("v%d: %s synonyms %v, want %v", v, c.Name, got, wantSyn[c.Name])
				}
			}
			if v >= 3 {
				if set.ConfigType != kmsg.ConfigTypeLong || findConfig(t, res, "cleanup.policy").ConfigType != kmsg.ConfigTypeList {
					t.Fatalf("v%d: types %v", v, set.ConfigType)
				}
				if (set.Documentation != nil) != extras {
					t.Fatalf("v%d: documentation %v, asked %v", v, set.Documentation, extras)
				}
			}
		}
	}
}

// TestDescribeConfigsBroker: the broker's own settings, read-only, under
// its id; nothing dynamic under ""; other ids refused.
func TestDescribeConfigsBroker(t *testing.T) {
	_, b := oneBroker(t)
	b.Config.DefaultPartitions = 6
	for v := int16(0); v <= 4; v++ {
		resp := roundTrip[*kmsg.DescribeConfigsResponse](t, b, describeConfigsReq(v, true, false,
			configResourceReq(kmsg.ConfigResourceTypeBroker, "1"),
			configResourceReq(kmsg.ConfigResourceTypeBroker, ""),
			configResourceReq(kmsg.ConfigResourceTypeBroker, "2"),
			configResourceReq(kmsg.ConfigResourceTypeBroker, "one"),
			configResourceReq(kmsg.ConfigResourceTypeBroker, "1", "num.partitions", "no.such.config"),
			configResourceReq(kmsg.ConfigResourceTypeBrokerLogger, "1"),
		))
		own, dynamic, other, notNumber, filtered, logger := resp.Resources[0], resp.Resources[1], resp.Resources[2], resp.Resources[3], resp.Resources[4], resp.Resources[5]
		if own.ErrorCode != 0 || len(own.Configs) != 4+len(topicconfig.Defs) {
			t.Fatalf("v%d: own configs: error %d, %d configs", v, own.ErrorCode, len(own.Configs))
		}
		for _, c := range own.Configs {
			if !c.ReadOnly {
				t.Fatalf("v%d: broker config %s is not read-only", v, c.Name)
			}
		}
		np := findConfig(t, own, "num.partitions")
		if *np.Value != "6" || *findConfig(t, own, "broker.id").Value != "1" || *findConfig(t, own, "log.retention.ms").Value != "604800000" {
			t.Fatalf("v%d: values %s", v, *np.Value)
		}
		if v >= 1 && (np.Source != kmsg.ConfigSourceStaticBrokerConfig || findConfig(t, own, "log.retention.ms").Source != kmsg.ConfigSourceDefaultConfig) {
			t.Fatalf("v%d: sources %v", v, np.Source)
		}
		if dynamic.ErrorCode != 0 || len(dynamic.Configs) != 0 {
			t.Fatalf("v%d: dynamic broker configs %+v", v, dynamic)
		}
		for _, res := range []kmsg.DescribeConfigsResponseResource{other, notNumber, logger} {
			if res.ErrorCode != kerr.InvalidRequest.Code || res.ErrorMessage == nil || len(res.Configs) != 0 {
				t.Fatalf("v%d: %q (type %d) answered %d", v, res.ResourceName, res.ResourceType, res.ErrorCode)
			}
		}
		if len(filtered.Configs) != 1 || filtered.Configs[0].Name != "num.partitions" {
			t.Fatalf("v%d: filtered to %d configs", v, len(filtered.Configs))
		}
	}
}

// TestDescribeConfigsTopicErrors: unknown and invalid topics, and no image.
func TestDescribeConfigsTopicErrors(t *testing.T) {
	_, b := oneBroker(t)
	resp := roundTrip[*kmsg.DescribeConfigsResponse](t, b, describeConfigsReq(4, false, false,
		configResourceReq(kmsg.ConfigResourceTypeTopic, "missing"),
		configResourceReq(kmsg.ConfigResourceTypeTopic, "bad name"),
	))
	if resp.Resources[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Resources[1].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("answered %d, %d", resp.Resources[0].ErrorCode, resp.Resources[1].ErrorCode)
	}
	none := harnessBroker(t, 1, nil)
	resp = roundTrip[*kmsg.DescribeConfigsResponse](t, none, describeConfigsReq(4, false, false,
		configResourceReq(kmsg.ConfigResourceTypeTopic, "x"), configResourceReq(kmsg.ConfigResourceTypeBroker, "1")))
	if resp.Resources[0].ErrorCode != kerr.RequestTimedOut.Code || resp.Resources[1].ErrorCode != 0 {
		t.Fatalf("without an image answered %d, %d", resp.Resources[0].ErrorCode, resp.Resources[1].ErrorCode)
	}
}
