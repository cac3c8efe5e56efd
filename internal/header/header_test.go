package header_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/mediagate/mediagate/internal/header"
)

// Set leaves h as the same h.Set calls would, names canonicalized, earlier
// values replaced, and values that an Add or a change to one header does
// not carry into another.
func TestSet(t *testing.T) {
	t.Parallel()
	got := http.Header{"Vary": {"Cookie", "Accept"}, "X-Kept": {"kept"}}
	want := got.Clone()
	kv := []string{"vary", "Authorization", "Cache-Control", "no-store", "x-content-type-options", "nosniff"}
	header.Set(got, kv...)
	for i := 0; i < len(kv); i += 2 {
		want.Set(kv[i], kv[i+1])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Set: %v, want %v", got, want)
	}
	got.Add("Vary", "Cookie")
	got["Cache-Control"][0] = "private"
	if v := got.Values("Cache-Control"); len(v) != 1 || v[0] != "private" {
		t.Errorf("Cache-Control %q, want [private]", v)
	}
	if v := got.Values("Vary"); len(v) != 2 || v[0] != "Authorization" || v[1] != "Cookie" {
		t.Errorf("Vary %q, want [Authorization Cookie]", v)
	}
	if v := got.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q after the Add, want nosniff", v)
	}
	header.Set(got, "X-Odd")
	if _, ok := got["X-Odd"]; ok {
		t.Error("a name without a value was set")
	}
}

// Set makes one allocation however many headers it sets.
func TestSetAllocs(t *testing.T) {
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		header.Set(h, "Content-Type", "video/mp4", "Cache-Control", "private", "X-Accel-Redirect", "/pmedia/x")
	})
	if n != 1 {
		t.Errorf("%v allocations, want 1", n)
	}
}
