package app

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/apidoc"
	"github.com/mediagate/mediagate/internal/apidoc/contract"
)

// TestDocumentCoversRoutes fails for a route under /api/ that the API
// document lacks, and for an operation of the document that no route takes.
func TestDocumentCoversRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var routes []contract.Operation
	err := chi.Walk(h.app.router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/") {
			routes = append(routes, contract.Operation{Method: method, Path: route})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := contract.Default(t).Operations()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s (routes.go) has no operation in internal/apidoc/openapi.json: add paths[%q].%s", r, r.Path, strings.ToLower(r.Method))
		}
	}
	for _, o := range documented {
		if !slices.Contains(routes, o) {
			t.Errorf("operation %s in internal/apidoc/openapi.json has no route in routes.go", o)
		}
	}
	if len(routes) < 40 {
		t.Errorf("walked %d routes under /api/, want the whole API", len(routes))
	}
}

// TestDocumentErrorCodes keeps the codes of errors.go and the document's
// ErrorCode enum the same.
func TestDocumentErrorCodes(t *testing.T) {
	t.Parallel()
	codes := []string{codeInternal}
	for _, k := range kinds {
		codes = append(codes, k.code)
	}
	var documented []string
	for _, v := range contract.Default(t).Spec().Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, v.(string))
	}
	slices.Sort(codes)
	slices.Sort(documented)
	if !slices.Equal(codes, documented) {
		t.Errorf("errors.go makes codes %q, the document's ErrorCode lists %q", codes, documented)
	}
}

// TestServeDocument fetches the document without credentials, then again
// with its ETag.
func TestServeDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	resp := h.do("GET", "/api/openapi.json", "", nil)
	wantStatus(t, resp, http.StatusOK)
	if b := readAll(t, resp); !bytes.Equal(b, apidoc.JSON) {
		t.Errorf("served %d bytes, not the embedded document (%d bytes)", len(b), len(apidoc.JSON))
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	etag := resp.Header.Get("ETag")
	if etag != apidoc.ETag {
		t.Errorf("ETag %q, want %q", etag, apidoc.ETag)
	}
	again := h.do("GET", "/api/openapi.json", "", nil, "If-None-Match", etag)
	wantStatus(t, again, http.StatusNotModified)
}
