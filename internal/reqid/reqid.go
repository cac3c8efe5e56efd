// Package reqid names every request: the id nginx gave it, or a new one,
// carried on the request's context, onto every log line written with that
// context, and back to the client in a response header.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// Header carries the id: nginx sends its $request_id in it, and every
// answer names its request in it.
const Header = "X-Request-Id"

// Key is the log attribute that holds the id.
const Key = "request_id"

// maxLen bounds an id taken from a request: nginx's are 32 hex digits, a
// UUID is 36 characters.
const maxLen = 64

// Valid reports whether s may be taken as a request's id: 1 to 64 ASCII
// letters, digits and hyphens. Without nginx in front the client sends the
// header, so nothing that could forge a log line or a header gets through.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// New returns a fresh id: 32 random hex digits, the shape of nginx's.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type key struct{}

// idCtx is a context that carries an id. It is one allocation for the
// context and the id's response header value, on a path that counts them.
type idCtx struct {
	context.Context
	id     string
	header [1]string
}

func (c *idCtx) Value(k any) any {
	if k == (key{}) {
		return c
	}
	return c.Context.Value(k)
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	c := &idCtx{Context: ctx, id: id}
	c.header[0] = id
	return c
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	if c, ok := ctx.Value(key{}).(*idCtx); ok {
		return c.id
	}
	return ""
}

// Middleware names each request: the id in its Header when Valid (nginx's
// $request_id), else a new one, which then replaces the header so that
// handlers further in (tusd logs it) see the same. The id goes on the
// request's context and into the answer's Header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !Valid(id) {
			id = New()
			r.Header.Set(Header, id)
		}
		c := With(r.Context(), id).(*idCtx)
		w.Header()[Header] = c.header[:]
		next.ServeHTTP(w, r.WithContext(c))
	})
}

// Handler returns h adding the id of the record's context, when there is
// one, to every record as Key. Log with the *Context methods (or Log) and
// the request's context for a line to carry it.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String(Key, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name)}
}
