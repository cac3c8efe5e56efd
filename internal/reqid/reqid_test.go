package reqid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"0123456789abcdef0123456789abcdef", true}, // nginx's $request_id
		{"3f2c1a9e-8b7d-4c6e-a5f4-0e1d2c3b4a59", true},
		{"A", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"new\nline", false},
		{"quote\"", false},
		{"under_score", false},
		{"dot.ted", false},
		{"é", false},
		{"id=1 level=ERROR", false},
	} {
		if got := Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	for range 100 {
		if id := New(); !Valid(id) || len(id) != 32 {
			t.Fatalf("New() = %q: not a valid 32-character id", id)
		}
	}
	if a, b := New(), New(); a == b {
		t.Error("New returned the same id twice")
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"nginx's id", "0123456789abcdef0123456789abcdef", true},
		{"a UUID", "3f2c1a9e-8b7d-4c6e-a5f4-0e1d2c3b4a59", true},
		{"none", "", false},
		{"a forged log line", "x\" level=ERROR msg=\"forged", false},
		{"too long", strings.Repeat("a", 65), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var inCtx, inHeader string
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inCtx, inHeader = From(r.Context()), r.Header.Get(Header)
				w.WriteHeader(http.StatusNoContent)
			}))
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.sent != "" {
				req.Header.Set(Header, tc.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Values(Header)
			if len(got) != 1 || got[0] != inCtx || !Valid(inCtx) || inHeader != inCtx {
				t.Fatalf("answer's %s %q, context's %q, handler's header %q: want one valid id, the same everywhere", Header, got, inCtx, inHeader)
			}
			if (inCtx == tc.sent) != tc.kept {
				t.Errorf("sent %q, got %q: kept = %v, want %v", tc.sent, inCtx, inCtx == tc.sent, tc.kept)
			}
		})
	}
}

func TestHandlerAddsTheID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx := With(context.Background(), "abc-123")
	log.InfoContext(ctx, "with")
	log.Info("without")
	type other struct{}
	log.InfoContext(context.WithValue(ctx, other{}, 1), "derived") // a context made from it still carries it
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"abc-123", "", "abc-123"} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		got, _ := m[Key].(string)
		if got != want || m["component"] != "test" {
			t.Errorf("line %d %s: %s %q, component %v; want %q, test", i, m["msg"], Key, got, m["component"], want)
		}
	}
	if h := Handler(log.Handler()); h != log.Handler() {
		t.Error("Handler wrapped a handler that already adds the id")
	}
}

// BenchmarkMiddleware is what naming a request costs: "nginx" brings its
// id, "direct" has one made.
func BenchmarkMiddleware(b *testing.B) {
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct{ name, id string }{{"nginx", "0123456789abcdef0123456789abcdef"}, {"direct", ""}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				req.Header.Set(Header, c.id)
				clear(w.Header())
				h.ServeHTTP(w, req)
			}
		})
	}
}
