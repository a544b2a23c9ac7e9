// Package topicconfig defines the topic configs chronik understands: their
// names, types, defaults, validation, and how a topic's config map resolves
// to typed values over the broker's defaults. The protocol layer uses it to
// validate and describe configs (CreateTopics, DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs); the partition layer to apply them.
//
// cleanup.policy=compact (alone or with delete) asks the partition layer
// for log compaction with min.cleanable.dirty.ratio, delete.retention.ms,
// min.compaction.lag.ms and max.compaction.lag.ms; with compaction the
// active segment rolls at EffectiveSegmentMs.
//
// Only configs that take effect are accepted; any other name is refused
// with ErrUnknown, so a client is never told a setting was stored when it
// does nothing.
package topicconfig

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Errors of Validate and Resolve; the protocol layer answers both with
// INVALID_CONFIG.
var (
	ErrUnknown = errors.New("topicconfig: unknown topic config")
	ErrInvalid = errors.New("topicconfig: invalid config value")
)

// Type is a config's value type as DescribeConfigs reports it (Kafka's
// ConfigType numbering: 1 boolean, 2 string, 3 int, 4 short, 5 long,
// 6 double, 7 list, 8 class, 9 password).
type Type int8

const (
	TypeBoolean Type = 1
	TypeString  Type = 2
	TypeInt     Type = 3
	TypeLong    Type = 5
	TypeDouble  Type = 6
	TypeList    Type = 7
)

// Names of the topic configs chronik applies.
const (
	RetentionMs                       = "retention.ms"
	RetentionBytes                    = "retention.bytes"
	SegmentBytes                      = "segment.bytes"
	SegmentMs                         = "segment.ms"
	MaxMessageBytes                   = "max.message.bytes"
	MessageTimestampType              = "message.timestamp.type"
	MinInsyncReplicas                 = "min.insync.replicas"
	CleanupPolicy                     = "cleanup.policy"
	MinCleanableDirtyRatio            = "min.cleanable.dirty.ratio"
	DeleteRetentionMs                 = "delete.retention.ms"
	MinCompactionLagMs                = "min.compaction.lag.ms"
	MaxCompactionLagMs                = "max.compaction.lag.ms"
	UncleanLeaderElectionEnable       = "unclean.leader.election.enable"
	TimestampTypeCreateTime           = "CreateTime"
	TimestampTypeLogAppendTime        = "LogAppendTime"
	CleanupPolicyDelete               = "delete"
	CleanupPolicyCompact              = "compact"
	defaultSegmentBytes               = 1 << 30
	defaultMaxMessageBytes            = 1048588
	defaultRetentionMs          int64 = 7 * 24 * 3600 * 1000
	defaultDeleteRetentionMs    int64 = 24 * 3600 * 1000
	defaultMinCleanableRatio          = 0.5
)

// Def is one topic config.
type Def struct {
	Name string
	Type Type
	// BrokerName is the broker config that holds the default (Kafka's
	// log.retention.ms for retention.ms, ...).
	BrokerName string
	Doc        string
	check      func(string) error
}

// Defs are every topic config chronik applies, sorted by name.
var Defs = []Def{
	{CleanupPolicy, TypeList, "log.cleanup.policy", "delete: drop old segments by time/size; compact: keep the latest record of each key; or both (compact,delete)", checkCleanup},
	{DeleteRetentionMs, TypeLong, "log.cleaner.delete.retention.ms", "compacted topics: how long a tombstone stays after the compaction that first kept it", checkLong(0)},
	{MaxCompactionLagMs, TypeLong, "log.cleaner.max.compaction.lag.ms", "compacted topics: longest a record stays uncompacted (also caps segment.ms)", checkLong(1)},
	{MaxMessageBytes, TypeInt, "message.max.bytes", "largest record batch accepted, in bytes", checkInt(0, 1<<31-1)},
	{MessageTimestampType, TypeString, "log.message.timestamp.type", "CreateTime or LogAppendTime", checkOneOf(TimestampTypeCreateTime, TimestampTypeLogAppendTime)},
	{MinCleanableDirtyRatio, TypeDouble, "log.cleaner.min.cleanable.ratio", "compacted topics: share of uncompacted bytes above which compaction runs (0 to 1)", checkRatio},
	{MinCompactionLagMs, TypeLong, "log.cleaner.min.compaction.lag.ms", "compacted topics: shortest time a record stays uncompacted", checkLong(0)},
	{MinInsyncReplicas, TypeInt, "min.insync.replicas", "in-sync replicas needed to accept acks=all writes", checkInt(1, 1<<31-1)},
	{RetentionBytes, TypeLong, "log.retention.bytes", "size per partition above which old segments are deleted; -1 no limit", checkLong(-1)},
	{RetentionMs, TypeLong, "log.retention.ms", "age after which old segments are deleted; -1 forever", checkLong(-1)},
	{SegmentBytes, TypeInt, "log.segment.bytes", "segment file size at which the log rolls", checkInt(14, 1<<31-1)},
	{SegmentMs, TypeLong, "log.roll.ms", "age at which the active segment rolls", checkLong(1)},
	{UncleanLeaderElectionEnable, TypeBoolean, "unclean.leader.election.enable", "elect an out-of-sync replica when no in-sync one is alive", checkBool},
}

// Lookup returns the definition of name.
func Lookup(name string) (Def, bool) {
	i, ok := slices.BinarySearchFunc(Defs, name, func(d Def, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return Def{}, false
	}
	return Defs[i], true
}

// ValidateOne checks one name and value.
func ValidateOne(name, value string) error {
	d, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	}
	if err := d.check(value); err != nil {
		return fmt.Errorf("%w: %s=%q: %v", ErrInvalid, name, value, err)
	}
	return nil
}

// Validate checks every entry of configs, reporting the first problem in
// name order, then the rules between configs set together:
// min.compaction.lag.ms must not exceed max.compaction.lag.ms (Kafka's
// check).
func Validate(configs map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		if err := ValidateOne(name, configs[name]); err != nil {
			return err
		}
	}
	minLag, hasMin := configs[MinCompactionLagMs]
	maxLag, hasMax := configs[MaxCompactionLagMs]
	if hasMin && hasMax {
		lo, _ := strconv.ParseInt(strings.TrimSpace(minLag), 10, 64)
		hi, _ := strconv.ParseInt(strings.TrimSpace(maxLag), 10, 64)
		return checkLags(lo, hi)
	}
	return nil
}

// checkLags is the min/max compaction lag rule.
func checkLags(minLag, maxLag int64) error {
	if minLag > maxLag {
		return fmt.Errorf("%w: %s=%d is greater than %s=%d", ErrInvalid, MinCompactionLagMs, minLag, MaxCompactionLagMs, maxLag)
	}
	return nil
}

// Values are resolved, typed configs of one topic.
type Values struct {
	RetentionMs                 int64
	RetentionBytes              int64
	SegmentBytes                int32
	SegmentMs                   int64
	MaxMessageBytes             int32
	LogAppendTime               bool // message.timestamp.type=LogAppendTime
	MinInsyncReplicas           int32
	UncleanLeaderElectionEnable bool
	// CleanupDelete and CleanupCompact are the policies cleanup.policy
	// lists (at least one is set).
	CleanupDelete          bool
	CleanupCompact         bool
	MinCleanableDirtyRatio float64
	DeleteRetentionMs      int64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
}

// Defaults are Kafka's defaults for every config.
func Defaults() Values {
	return Values{
		RetentionMs:            defaultRetentionMs,
		RetentionBytes:         -1,
		SegmentBytes:           defaultSegmentBytes,
		SegmentMs:              defaultRetentionMs,
		MaxMessageBytes:        defaultMaxMessageBytes,
		MinInsyncReplicas:      1,
		CleanupDelete:          true,
		MinCleanableDirtyRatio: defaultMinCleanableRatio,
		DeleteRetentionMs:      defaultDeleteRetentionMs,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// CleanupPolicyString returns cleanup.policy as a config value: "delete",
// "compact" or "compact,delete".
func (v Values) CleanupPolicyString() string {
	switch {
	case v.CleanupCompact && v.CleanupDelete:
		return CleanupPolicyCompact + "," + CleanupPolicyDelete
	case v.CleanupCompact:
		return CleanupPolicyCompact
	}
	return CleanupPolicyDelete
}

// EffectiveSegmentMs is the age at which the active segment rolls: with
// compaction, Kafka caps segment.ms at max.compaction.lag.ms, since the
// active segment is never compacted (LogConfig.maxSegmentMs).
func (v Values) EffectiveSegmentMs() int64 {
	if v.CleanupCompact && v.MaxCompactionLagMs > 0 {
		return min(v.SegmentMs, v.MaxCompactionLagMs)
	}
	return v.SegmentMs
}

// Strings returns v as a config map with every config set.
func (v Values) Strings() map[string]string {
	ts := TimestampTypeCreateTime
	if v.LogAppendTime {
		ts = TimestampTypeLogAppendTime
	}
	return map[string]string{
		RetentionMs:                 strconv.FormatInt(v.RetentionMs, 10),
		RetentionBytes:              strconv.FormatInt(v.RetentionBytes, 10),
		SegmentBytes:                strconv.FormatInt(int64(v.SegmentBytes), 10),
		SegmentMs:                   strconv.FormatInt(v.SegmentMs, 10),
		MaxMessageBytes:             strconv.FormatInt(int64(v.MaxMessageBytes), 10),
		MessageTimestampType:        ts,
		MinInsyncReplicas:           strconv.FormatInt(int64(v.MinInsyncReplicas), 10),
		CleanupPolicy:               v.CleanupPolicyString(),
		UncleanLeaderElectionEnable: strconv.FormatBool(v.UncleanLeaderElectionEnable),
		MinCleanableDirtyRatio:      strconv.FormatFloat(v.MinCleanableDirtyRatio, 'g', -1, 64),
		DeleteRetentionMs:           strconv.FormatInt(v.DeleteRetentionMs, 10),
		MinCompactionLagMs:          strconv.FormatInt(v.MinCompactionLagMs, 10),
		MaxCompactionLagMs:          strconv.FormatInt(v.MaxCompactionLagMs, 10),
	}
}

// Resolve returns the values of a topic whose configs are topic, over the
// broker defaults base. It fails on an unknown name or a bad value (a
// topic stored by an older or foreign writer); callers log that and keep
// the previous values.
func Resolve(topic map[string]string, base Values) (Values, error) {
	if err := Validate(topic); err != nil {
		return base, err
	}
	v := base
	for name, s := range topic {
		s = strings.TrimSpace(s)
		switch name {
		case RetentionMs:
			v.RetentionMs, _ = strconv.ParseInt(s, 10, 64)
		case RetentionBytes:
			v.RetentionBytes, _ = strconv.ParseInt(s, 10, 64)
		case SegmentBytes:
			n, _ := strconv.ParseInt(s, 10, 32)
			v.SegmentBytes = int32(n)
		case SegmentMs:
			v.SegmentMs, _ = strconv.ParseInt(s, 10, 64)
		case MaxMessageBytes:
			n, _ := strconv.ParseInt(s, 10, 32)
			v.MaxMessageBytes = int32(n)
		case MessageTimestampType:
			v.LogAppendTime = s == TimestampTypeLogAppendTime
		case MinInsyncReplicas:
			n, _ := strconv.ParseInt(s, 10, 32)
			v.MinInsyncReplicas = int32(n)
		case UncleanLeaderElectionEnable:
			v.UncleanLeaderElectionEnable, _ = strconv.ParseBool(s)
		case CleanupPolicy:
			v.CleanupDelete, v.CleanupCompact = false, false
			for _, p := range strings.Split(s, ",") {
				switch strings.TrimSpace(p) {
				case CleanupPolicyDelete:
					v.CleanupDelete = true
				case CleanupPolicyCompact:
					v.CleanupCompact = true
				}
			}
		case MinCleanableDirtyRatio:
			v.MinCleanableDirtyRatio, _ = strconv.ParseFloat(strings.TrimSpace(s), 64)
		case DeleteRetentionMs:
			v.DeleteRetentionMs, _ = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		case MinCompactionLagMs:
			v.MinCompactionLagMs, _ = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		case MaxCompactionLagMs:
			v.MaxCompactionLagMs, _ = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		}
	}
	if err := checkLags(v.MinCompactionLagMs, v.MaxCompactionLagMs); err != nil {
		return base, err
	}
	return v, nil
}

func checkInt(lo, hi int64) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return errors.New("not an int")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be in [%d, %d]", lo, hi)
		}
		return nil
	}
}

func checkLong(lo int64) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return errors.New("not a long")
		}
		if n < lo {
			return fmt.Errorf("must be >= %d", lo)
		}
		return nil
	}
}

func checkOneOf(allowed ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(allowed, s) {
			return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
		}
		return nil
	}
}

func checkBool(s string) error {
	if s != "true" && s != "false" {
		return errors.New("must be true or false")
	}
	return nil
}

func checkCleanup(s string) error {
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case CleanupPolicyDelete, CleanupPolicyCompact:
		case "":
			return errors.New("must be delete, compact or compact,delete (an empty entry)")
		default:
			return fmt.Errorf("must be delete, compact or compact,delete (%q is not a cleanup policy)", p)
		}
		if seen[p] {
			return fmt.Errorf("lists %s twice", p)
		}
		seen[p] = true
	}
	return nil
}

func checkRatio(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a number")
	}
	if f < 0 || f > 1 {
		return errors.New("must be in [0, 1]")
	}
	return nil
}
