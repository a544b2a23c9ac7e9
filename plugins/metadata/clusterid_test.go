package metadata

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewClusterID()
		if err := ValidateClusterID(id); err != nil {
			t.Fatalf("NewClusterID() = %q: %v", id, err)
		}
		if strings.HasPrefix(id, "-") {
			t.Fatalf("NewClusterID() = %q starts with '-'", id)
		}
		b, _ := base64.RawURLEncoding.DecodeString(id)
		if b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Fatalf("NewClusterID() = %q: not a version 4 RFC 4122 UUID (% x)", id, b)
		}
		if seen[id] {
			t.Fatalf("NewClusterID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidateClusterID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"MkU3OEVBNTcwNTJENDM2Qk", true}, // the example id of Kafka's docs
		{"4L6g3nShT-eMCtK--X86sw", true},
		{"", false},
		{"MkU3OEVBNTcwNTJENDM2Qk==", false},             // padded
		{"MkU3OEVBNTcwNTJENDM2Q", false},                // 21 characters
		{"MkU3OEVBNTcwNTJENDM2Q+", false},               // standard, not url, alphabet
		{"AAAAAAAAAAAAAAAAAAAAAA", false},               // the zero UUID
		{"2e9c6ee2-1b9e-4f0a-8c55-3f8d1a2b3c4d", false}, // hex form, not Kafka's
	} {
		err := ValidateClusterID(tc.id)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateClusterID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateClusterID(%q) = %v, not ErrInvalid", tc.id, err)
		}
	}
}

func TestStateKeepsClusterID(t *testing.T) {
	s := NewState()
	s.ClusterID = NewClusterID()
	if err := s.Apply(WatchBatch{Revision: 3, Events: []Event{{Type: EventProducerIDsAllocated, NextProducerID: 10}}}); err != nil {
		t.Fatal(err)
	}
	if c := s.Clone(); c.ClusterID != s.ClusterID || c.ClusterID == "" {
		t.Fatalf("Clone: cluster id %q, want %q", c.ClusterID, s.ClusterID)
	}
}
