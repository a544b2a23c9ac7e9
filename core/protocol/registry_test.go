package protocol

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func nopHandler(context.Context, *Broker, *Request) (kmsg.Response, error) { return nil, nil }

func TestDefaultRegistryHasAPIVersions(t *testing.T) {
	api, ok := Lookup(18)
	if !ok || api.MinVersion != 0 || api.MaxVersion != 4 || !api.AnswersUnsupportedVersions || api.Name() != "ApiVersions" {
		t.Fatalf("ApiVersions registration %+v, %v", api, ok)
	}
	if got := Default(); got != defaultRegistry {
		t.Fatal("Default() is not the registry the API files register into")
	}
	found := false
	for _, a := range APIs() {
		found = found || a.Key == 18
	}
	if !found {
		t.Fatal("APIs() lacks ApiVersions")
	}
}

func TestRegistryRegisterLookupSorted(t *testing.T) {
	r := NewRegistry()
	if _, ok := r.Lookup(3); ok {
		t.Fatal("empty registry found key 3")
	}
	for _, key := range []int16{32, 0, 18, 3, 1} {
		r.Register(API{Key: key, MinVersion: 0, MaxVersion: 1, Handle: nopHandler})
	}
	var keys []int16
	for _, a := range r.APIs() {
		keys = append(keys, a.Key)
	}
	if fmt.Sprint(keys) != "[0 1 3 18 32]" {
		t.Fatalf("APIs() keys %v", keys)
	}
	api, ok := r.Lookup(3)
	if !ok || api.Key != 3 || api.Handle == nil {
		t.Fatalf("Lookup(3) = %+v, %v", api, ok)
	}
	for _, key := range []int16{-1, 2, 17, 33, 1000} {
		if _, ok := r.Lookup(key); ok {
			t.Fatalf("Lookup(%d) found something", key)
		}
	}
	// APIs returns a copy.
	r.APIs()[0].Key = 99
	if r.APIs()[0].Key != 0 {
		t.Fatal("APIs() exposed the registry's slice")
	}
	if !api.Supports(0) || !api.Supports(1) || api.Supports(2) || api.Supports(-1) {
		t.Fatal("Supports")
	}
}

func TestRegistryPanics(t *testing.T) {
	cases := []struct {
		name string
		api  API
		msg  string
	}{
		{"nil handler", API{Key: 3, MaxVersion: 1}, "without a handler"},
		{"unknown key", API{Key: 30000, MaxVersion: 1, Handle: nopHandler}, "not a Kafka request"},
		{"negative key", API{Key: -1, MaxVersion: 1, Handle: nopHandler}, "not a Kafka request"},
		{"negative min", API{Key: 3, MinVersion: -1, MaxVersion: 1, Handle: nopHandler}, "versions -1 to 1"},
		{"max below min", API{Key: 3, MinVersion: 4, MaxVersion: 3, Handle: nopHandler}, "versions 4 to 3"},
		{"above kmsg", API{Key: 3, MaxVersion: 200, Handle: nopHandler}, "kmsg decodes up to"},
		{"duplicate", API{Key: 18, MaxVersion: 1, Handle: nopHandler}, "registered twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			r.Register(API{Key: 18, MaxVersion: 4, Handle: nopHandler})
			defer func() {
				p := recover()
				if p == nil {
					t.Fatal("no panic")
				}
				if s := fmt.Sprint(p); !strings.HasPrefix(s, "protocol: ") || !strings.Contains(s, tc.msg) {
					t.Fatalf("panic %q, want %q", s, tc.msg)
				}
				if len(r.APIs()) != 1 {
					t.Fatal("a failed registration changed the registry")
				}
			}()
			r.Register(tc.api)
		})
	}
	t.Run("default registry duplicate", func(t *testing.T) {
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "registered twice") {
				t.Fatalf("panic %v", p)
			}
		}()
		Register(API{Key: 18, MaxVersion: 4, Handle: nopHandler})
	})
}

// TestRegistryConcurrent: lookups never block on or race with Register.
func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				apis := r.APIs()
				for _, a := range apis {
					if got, ok := r.Lookup(a.Key); !ok || got.Key != a.Key {
						t.Errorf("Lookup(%d) after APIs listed it: %v", a.Key, ok)
						return
					}
				}
			}
		})
	}
	n := 0
	for key := int16(0); key < 100; key++ {
		if kmsg.RequestForKey(key) == nil {
			continue
		}
		r.Register(API{Key: key, Handle: nopHandler})
		n++
	}
	close(stop)
	wg.Wait()
	if len(r.APIs()) != n {
		t.Fatalf("%d registered, %d listed", n, len(r.APIs()))
	}
}
