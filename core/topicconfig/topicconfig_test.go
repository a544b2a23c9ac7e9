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
		{CleanupPolicy, "compact", ErrInvalid},
		{CleanupPolicy, "delete,compact", ErrInvalid},
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
