package topicconfig

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDefsSorted(t *testing.T) {
	if !slices.IsSortedFunc(Defs, func(a, b Def) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("Defs must be sorted by name for Lookup")
	}
	for _, d := range Defs {
		if _, ok := Lookup(d.Name); !ok {
			t.Errorf("Lookup(%s) failed", d.Name)
		}
		if err := ValidateOne(d.Name, Defaults().Strings()[d.Name]); err != nil {
			t.Errorf("default of %s does not validate: %v", d.Name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        error
	}{
		{RetentionMs, "-1", nil},
		{RetentionMs, "-2", ErrInvalid},
		{RetentionMs, "x", ErrInvalid},
		{RetentionBytes, "1024", nil},
		{SegmentBytes, "13", ErrInvalid},
		{SegmentBytes, "1048576", nil},
		{SegmentBytes, "99999999999", ErrInvalid},
		{MaxMessageBytes, "0", nil},
		{MessageTimestampType, "LogAppendTime", nil},
		{MessageTimestampType, "Now", ErrInvalid},
		{MinInsyncReplicas, "0", ErrInvalid},
		{CleanupPolicy, "delete", nil},
		{CleanupPolicy, "compact", nil},
		{CleanupPolicy, "delete,compact", nil},
		{CleanupPolicy, "compact, delete", nil},
		{CleanupPolicy, "", ErrInvalid},
		{CleanupPolicy, "compact,", ErrInvalid},
		{CleanupPolicy, "compact,compact", ErrInvalid},
		{CleanupPolicy, "shred", ErrInvalid},
		{MinCleanableDirtyRatio, "0", nil},
		{MinCleanableDirtyRatio, "0.5", nil},
		{MinCleanableDirtyRatio, "1", nil},
		{MinCleanableDirtyRatio, "1.01", ErrInvalid},
		{MinCleanableDirtyRatio, "-0.1", ErrInvalid},
		{MinCleanableDirtyRatio, "NaN", ErrInvalid},
		{MinCleanableDirtyRatio, "half", ErrInvalid},
		{DeleteRetentionMs, "0", nil},
		{DeleteRetentionMs, "-1", ErrInvalid},
		{MinCompactionLagMs, "0", nil},
		{MinCompactionLagMs, "-1", ErrInvalid},
		{MaxCompactionLagMs, "1", nil},
		{MaxCompactionLagMs, "0", ErrInvalid},
		{MaxCompactionLagMs, "9223372036854775807", nil},
		{MaxCompactionLagMs, "9223372036854775808", ErrInvalid},
		{UncleanLeaderElectionEnable, "yes", ErrInvalid},
		{"compression.type", "zstd", ErrUnknown},
	} {
		err := ValidateOne(tc.name, tc.value)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("ValidateOne(%s, %s) = %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	base := Defaults()
	base.RetentionMs = 1000
	v, err := Resolve(map[string]string{SegmentBytes: "2048", MessageTimestampType: "LogAppendTime", MinInsyncReplicas: "2"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if v.SegmentBytes != 2048 || !v.LogAppendTime || v.MinInsyncReplicas != 2 || v.RetentionMs != 1000 {
		t.Fatalf("Resolve = %+v", v)
	}
	if _, err := Resolve(map[string]string{"bogus": "1"}, base); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Resolve(bogus) = %v", err)
	}
	if back, _ := Resolve(v.Strings(), Defaults()); back != v {
		t.Fatalf("Strings/Resolve round trip: %+v != %+v", back, v)
	}
}

func TestCompactionConfigs(t *testing.T) {
	// min.compaction.lag.ms above max.compaction.lag.ms: refused when set
	// together, and when the other one comes from the defaults.
	if err := Validate(map[string]string{MinCompactionLagMs: "2000", MaxCompactionLagMs: "1000"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), MinCompactionLagMs) {
		t.Fatalf("Validate = %v", err)
	}
	if err := Validate(map[string]string{MinCompactionLagMs: "1000", MaxCompactionLagMs: "1000"}); err != nil {
		t.Fatal(err)
	}
	base := Defaults()
	base.MaxCompactionLagMs = 500
	if _, err := Resolve(map[string]string{MinCompactionLagMs: "600"}, base); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Resolve = %v", err)
	}

	for _, tc := range []struct {
		policy           string
		compact, del     bool
		canonical        string
		segmentMs, maxMs string
		effective        int64
	}{
		{"delete", false, true, "delete", "1000", "10", 1000},
		{"compact", true, false, "compact", "1000", "10", 10},
		{"delete,compact", true, true, "compact,delete", "1000", "5000", 1000},
		{" compact , delete ", true, true, "compact,delete", "1000", "10", 10},
	} {
		v, err := Resolve(map[string]string{CleanupPolicy: tc.policy, SegmentMs: tc.segmentMs, MaxCompactionLagMs: tc.maxMs}, Defaults())
		if err != nil {
			t.Fatal(err)
		}
		if v.CleanupCompact != tc.compact || v.CleanupDelete != tc.del || v.CleanupPolicyString() != tc.canonical || v.EffectiveSegmentMs() != tc.effective {
			t.Errorf("%q: %+v effective %d", tc.policy, v, v.EffectiveSegmentMs())
		}
	}
	v, err := Resolve(map[string]string{
		CleanupPolicy: "compact", MinCleanableDirtyRatio: "0.25", DeleteRetentionMs: "1000",
		MinCompactionLagMs: "5", MaxCompactionLagMs: "60000",
	}, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if v.MinCleanableDirtyRatio != 0.25 || v.DeleteRetentionMs != 1000 || v.MinCompactionLagMs != 5 || v.MaxCompactionLagMs != 60000 {
		t.Fatalf("%+v", v)
	}
	if back, err := Resolve(v.Strings(), Defaults()); err != nil || back != v {
		t.Fatalf("round trip %+v != %+v (%v)", back, v, err)
	}
	d := Defaults()
	if d.MinCleanableDirtyRatio != 0.5 || d.DeleteRetentionMs != 86400000 || d.MinCompactionLagMs != 0 || d.MaxCompactionLagMs != 1<<63-1 || !d.CleanupDelete || d.CleanupCompact {
		t.Fatalf("defaults %+v", d)
	}
	if got := d.Strings()[MinCleanableDirtyRatio]; got != "0.5" {
		t.Fatalf("ratio described as %q", got)
	}
}
