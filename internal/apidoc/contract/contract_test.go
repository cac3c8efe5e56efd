package contract

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// exchange builds an Exchange: a request with a bearer token unless auth
// is false, and its answer.
func exchange(method, target string, auth bool, body string, status int, header http.Header, answer string) Exchange {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	}
	if auth {
		r.Header.Set("Authorization", "Bearer mg_x")
	}
	if header == nil {
		header = http.Header{}
	}
	if answer != "" && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	ex := Exchange{Request: r, Status: status, Header: header, Response: []byte(answer)}
	if body != "" {
		ex.Body = []byte(body)
	}
	return ex
}

func TestCheck(t *testing.T) {
	t.Parallel()
	d := Default(t)
	const me = `{"id":"u1","email":"a@example.com","role":"admin"}`
	unauth := http.Header{"Www-Authenticate": {`Bearer realm="mediagate"`}}
	const folder = `{"id":"f1","name":"A","parent":null,"created_at":"2026-01-02T03:04:05.123456Z","permission":"manage"}`
	for _, tt := range []struct {
		name string
		ex   Exchange
		want string // in the error; "" for none
	}{
		{"documented", exchange("GET", "/api/me", true, "", 200, nil, me), ""},
		{"outside /api/", exchange("GET", "/smedia/x", false, "", 418, nil, "teapot"), ""},
		{"undocumented field", exchange("GET", "/api/me", true, "", 200, nil, `{"id":"u1","email":"a@example.com","role":"admin","secret":1}`), "secret"},
		{"value off the enum", exchange("GET", "/api/me", true, "", 200, nil, `{"id":"u1","email":"a@example.com","role":"root"}`), "role"},
		{"undocumented status", exchange("GET", "/api/me", true, "", 418, nil, me), "418"},
		{"not JSON", exchange("GET", "/api/me", true, "", 200, http.Header{"Content-Type": {"text/html"}}, "<p>hi"), "text/html"},
		{"refused request answered 200", exchange("GET", "/api/me", false, "", 200, nil, me), "refuses this request"},
		{"refused request answered 401", exchange("GET", "/api/me", false, "", 401, unauth, `{"error":"authentication required","code":"unauthenticated"}`), ""},
		{"401 without WWW-Authenticate", exchange("GET", "/api/me", false, "", 401, nil, `{"error":"authentication required","code":"unauthenticated"}`), "WWW-Authenticate"},
		{"error without code", exchange("GET", "/api/media/x", true, "", 404, nil, `{"error":"not found"}`), "code"},
		{"code off its status", exchange("GET", "/api/media/x", true, "", 404, nil, `{"error":"forbidden","code":"forbidden"}`), "not_found"},
		{"JSON body off its schema, accepted", exchange("PUT", "/api/media/x/grants/everyone", true, `{"permission":"owner"}`, 200, nil, `{"subject":"everyone","permission":"view"}`), "refuses this request"},
		{"JSON body off its schema, refused", exchange("PUT", "/api/media/x/grants/everyone", true, `{"permission":"owner"}`, 400, nil, `{"error":"invalid request: no","code":"invalid"}`), ""},
		{"null where a string or null goes", exchange("PATCH", "/api/folders/f1", true, `{"parent":null}`, 200, nil, folder), ""},
		{"number where a string or null goes", exchange("PATCH", "/api/folders/f1", true, `{"parent":5}`, 200, nil, folder), "refuses this request"},
		{"required field missing", exchange("POST", "/api/folders", true, `{}`, 201, http.Header{"Location": {"/api/folders/f1"}}, folder), "refuses this request"},
		{"required header missing", exchange("POST", "/api/folders", true, `{"name":"A"}`, 201, nil, folder), "Location"},
		{"a link to nothing", exchange("GET", "/api/media/m/links", true, "", 200, nil, `{"links":[{"id":"l","created_at":"2026-01-02T03:04:05Z","expires_at":null,"has_password":false,"revoked":false,"created_by":null}]}`), "media_id"},
		{"the root's view", exchange("GET", "/api/folders/root", true, "", 200, nil, `{"folder":null,"folders":[],"items":[],"next_cursor":""}`), ""},
		{"a folder that is a string", exchange("GET", "/api/folders/root", true, "", 200, nil, `{"folder":"f1","folders":[],"items":[],"next_cursor":""}`), "/folder"},
		{"not a date", exchange("GET", "/api/tokens", true, "", 200, nil, `{"tokens":[{"id":"t","name":"","created_at":"yesterday"}]}`), "date-time"},
		{"body on a 204", exchange("DELETE", "/api/media/x", true, "", 204, nil, `{}`), "does not describe"},
		{"no endpoint", exchange("GET", "/api/nope", true, "", 404, nil, `{"error":"not found: no API endpoint /api/nope","code":"no_endpoint"}`), ""},
		{"no endpoint answered 200", exchange("GET", "/api/nope", true, "", 200, nil, me), "no operation"},
		{"no endpoint with another code", exchange("GET", "/api/nope", true, "", 404, nil, `{"error":"not found","code":"not_found"}`), "no_endpoint"},
		{"tus error in tusd's words", exchange("POST", "/api/uploads/", true, "", 412, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "ERR_UNSUPPORTED_VERSION: missing, invalid or unsupported Tus-Resumable header\n"), ""},
		{"tus error in other words", exchange("POST", "/api/uploads/", true, "", 412, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "no\n"), "ERR_"},
	} {
		err := d.Check(tt.ex)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: passed, want an error about %q", tt.name, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: %v, want an error about %q", tt.name, err, tt.want)
		}
	}
}

// TestFileBodies checks what is checked of a body that is a file: its
// content type and presence.
func TestFileBodies(t *testing.T) {
	t.Parallel()
	d := Default(t)
	tus := func(ct string, body string) Exchange {
		ex := exchange("PATCH", "/api/uploads/u1", true, "", 204, http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Offset": {"3"}}, "")
		ex.Request = httptest.NewRequest("PATCH", "/api/uploads/u1", strings.NewReader(body))
		ex.Request.Header.Set("Authorization", "Bearer mg_x")
		ex.Request.Header.Set("Tus-Resumable", "1.0.0")
		ex.Request.Header.Set("Upload-Offset", "0")
		if ct != "" {
			ex.Request.Header.Set("Content-Type", ct)
		}
		return ex
	}
	if err := d.Check(tus("application/offset+octet-stream", "abc")); err != nil {
		t.Errorf("a PATCH as tus wants it: %v", err)
	}
	if err := d.Check(tus("text/plain", "abc")); err == nil || !strings.Contains(err.Error(), "Content-Type") {
		t.Errorf("a PATCH of text/plain answered 204: %v, want an error about its Content-Type", err)
	}
	if err := d.Check(tus("application/offset+octet-stream", "")); err != nil {
		t.Errorf("an empty PATCH (tus allows one): %v", err)
	}
	// A raw upload's body may have any type, but there must be one.
	const item = `{"id":"x","filename":"a","size":1,"sha256":"` + "0000000000000000000000000000000000000000000000000000000000000000" + `","content_type":"text/plain","created_at":"2026-01-02T03:04:05Z","url":"/smedia/x/a","folder":null,"permission":"manage"}`
	upload := func(body string) Exchange {
		ex := exchange("POST", "/api/media?filename=a", true, "", 201, http.Header{"Location": {"/api/media/x"}}, item)
		ex.Request = httptest.NewRequest("POST", "/api/media?filename=a", strings.NewReader(body))
		ex.Request.Header.Set("Authorization", "Bearer mg_x")
		ex.Request.Header.Set("Content-Type", "application/x-www-form-urlencoded") // curl --data-binary
		if body == "" {
			ex.Request.ContentLength = 0
		}
		return ex
	}
	if err := d.Check(upload("a")); err != nil {
		t.Errorf("a raw upload: %v", err)
	}
	if err := d.Check(upload("")); err == nil || !strings.Contains(err.Error(), "no body") {
		t.Errorf("an upload without a body answered 201: %v, want an error about the missing body", err)
	}
}

// spy is a testing.TB that keeps what it is told to report.
type spy struct {
	testing.TB
	errors []string
}

func (s *spy) Errorf(format string, args ...any) {
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}

// TestWrappers runs a handler that breaks the contract on one route and
// keeps it on another, through Handler and Transport.
func TestWrappers(t *testing.T) {
	t.Parallel()
	d := Default(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"u1","email":"a@example.com","role":"admin"}`)
	})
	mux.HandleFunc("POST /api/tokens", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"t1","name":"x","created_at":"2026-01-02T03:04:05Z"}`) // no "token"
	})
	for _, side := range []string{"server", "client"} {
		s := &spy{TB: t}
		h := http.Handler(mux)
		if side == "server" {
			h = d.Handler(s, mux)
		}
		srv := httptest.NewServer(h)
		client := srv.Client()
		if side == "client" {
			client.Transport = d.Transport(s, client.Transport)
		}
		for _, c := range []struct{ method, path, body string }{{"GET", "/api/me", ""}, {"POST", "/api/tokens", `{"name":"x"}`}} {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer mg_x")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); len(b) == 0 {
				t.Errorf("%s: %s %s: the answer's body was lost", side, c.method, c.path)
			}
			resp.Body.Close()
		}
		srv.Close()
		if len(s.errors) != 1 || !strings.Contains(s.errors[0], "POST /api/tokens") || !strings.Contains(s.errors[0], "token") {
			t.Errorf("%s side reported %q, want one error about POST /api/tokens missing its token", side, s.errors)
		}
	}
}
