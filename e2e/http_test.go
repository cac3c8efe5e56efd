package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// requestTimeout bounds a request unless the call says otherwise.
const requestTimeout = 30 * time.Second

// answer is what a request got back.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	Length int64 // Content-Length as the client parsed it; -1 when unknown
}

// String describes a for failure messages.
func (a *answer) String() string {
	body := a.Body
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Sprintf("%d %q", a.Status, body)
}

// call is one request to the suite's client-facing address.
type call struct {
	method  string
	path    string // path and query, sent as written
	token   string // API token for Authorization: Bearer
	headers [][2]string
	body    io.Reader
	length  int64         // Content-Length when > 0 and body's type does not tell it
	client  *http.Client  // the suite's client when nil
	timeout time.Duration // requestTimeout when zero
}

// try sends c and reads the whole answer.
func (s *suite) try(c call) (*answer, error) {
	timeout := c.timeout
	if timeout == 0 {
		timeout = requestTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, s.base+c.path, c.body)
	if err != nil {
		return nil, err
	}
	if c.length > 0 {
		req.ContentLength = c.length
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for _, h := range c.headers {
		req.Header.Add(h[0], h[1])
	}
	client := c.client
	if client == nil {
		client = s.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", c.method, c.path, err)
	}
	return &answer{Status: resp.StatusCode, Header: resp.Header, Body: body, Length: resp.ContentLength}, nil
}

// do is try that fails t when the request gets no answer.
func (s *suite) do(t testing.TB, c call) *answer {
	t.Helper()
	a, err := s.try(c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return a
}

// get is a GET of path with token ("" for none).
func (s *suite) get(t testing.TB, path, token string) *answer {
	t.Helper()
	return s.do(t, call{method: http.MethodGet, path: path, token: token})
}

// sendJSON sends v as a JSON body.
func (s *suite) sendJSON(t testing.TB, method, path, token string, v any) *answer {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, call{method: method, path: path, token: token, body: bytes.NewReader(b),
		headers: [][2]string{{"Content-Type", "application/json"}}})
}

// expectStatus fails t (without stopping it) unless a has one of the statuses.
func expectStatus(t testing.TB, what string, a *answer, want ...int) bool {
	t.Helper()
	if !slices.Contains(want, a.Status) {
		t.Errorf("%s: got %s, want status %v", what, a, want)
		return false
	}
	return true
}

// mustStatus stops t unless a has one of the statuses.
func mustStatus(t testing.TB, what string, a *answer, want ...int) {
	t.Helper()
	if !slices.Contains(want, a.Status) {
		t.Fatalf("%s: got %s, want status %v", what, a, want)
	}
}

// expectAPIError checks that a is an /api/ error: the status and a JSON body
// {"error": "..."} with a non-empty message.
func expectAPIError(t testing.TB, what string, a *answer, status int) {
	t.Helper()
	if !expectStatus(t, what, a, status) {
		return
	}
	if mt := mediaType(a.Header); mt != "application/json" {
		t.Errorf("%s: error body has Content-Type %q, want application/json: %s", what, a.Header.Get("Content-Type"), a)
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(a.Body, &e); err != nil || e.Error == "" {
		t.Errorf(`%s: want a body {"error":"..."}, got %s (%v)`, what, a, err)
	}
}

// decodeJSON decodes a's JSON body into a T, stopping t when it cannot.
func decodeJSON[T any](t testing.TB, what string, a *answer) T {
	t.Helper()
	var v T
	if mt := mediaType(a.Header); mt != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json: %s", what, a.Header.Get("Content-Type"), a)
	}
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("%s: decoding %s: %v", what, a, err)
	}
	return v
}

// mediaType is the media type of h's Content-Type without parameters, or the
// raw value when it does not parse.
func mediaType(h http.Header) string {
	v := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return v
	}
	return mt
}

// hasToken reports whether the comma-separated header name lists directive
// token (such as Cache-Control: private, max-age=0).
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			key, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(strings.TrimSpace(key), token) {
				return true
			}
		}
	}
	return false
}

// flexID is an id sent as a JSON string or number, kept as its text.
type flexID string

// UnmarshalJSON accepts a string or a number.
func (f *flexID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", b)
	}
	*f = flexID(n.String())
	return nil
}

// mediaItem is the API's view of one media item.
type mediaItem struct {
	ID          flexID `json:"id"`
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	CreatedAt   string `json:"created_at"`
	URL         string `json:"url"`
}

// me is GET /api/me's answer.
type me struct {
	ID    flexID `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

// mediaList is one page of GET /api/media.
type mediaList struct {
	Items      []mediaItem `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// grantList is GET /api/media/{id}/grants's answer.
type grantList struct {
	Grants []grant `json:"grants"`
}

// grant is one user's permission on an item.
type grant struct {
	Subject    string `json:"subject"`
	Permission string `json:"permission"`
}

// itemPath is the API path of an item, plus rest.
func itemPath(id flexID, rest string) string {
	return "/api/media/" + url.PathEscape(string(id)) + rest
}

// smediaPath is the private URL of an item, with name when it is not empty.
func smediaPath(id flexID, name string) string {
	p := "/smedia/" + url.PathEscape(string(id))
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// uploadRaw uploads data as a raw body, naming it with ?filename=.
func (s *suite) uploadRaw(t testing.TB, token, name string, data []byte) *answer {
	t.Helper()
	return s.do(t, call{method: http.MethodPost, path: "/api/media?filename=" + url.QueryEscape(name), token: token,
		body: bytes.NewReader(data), headers: [][2]string{{"Content-Type", "application/octet-stream"}}})
}

// uploadMultipart uploads size bytes from data as the multipart field "file";
// a negative size sends the body chunked, with no Content-Length.
func (s *suite) uploadMultipart(token, name string, data io.Reader, size int64, timeout time.Duration) (*answer, error) {
	body, ctype, length := multipartBody(name, data, size)
	return s.try(call{method: http.MethodPost, path: "/api/media", token: token, body: body, length: length,
		headers: [][2]string{{"Content-Type", ctype}}, timeout: timeout})
}

// multipartBody streams a multipart/form-data body with one file field. Its
// length is known (and returned) when size is.
func multipartBody(name string, data io.Reader, size int64) (body io.Reader, contentType string, length int64) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("file", name); err != nil {
		panic(err) // writes to a bytes.Buffer do not fail
	}
	prefix := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil {
		panic(err)
	}
	suffix := bytes.Clone(head.Bytes())
	length = -1
	if size >= 0 {
		length = int64(len(prefix)) + size + int64(len(suffix))
	}
	return io.MultiReader(bytes.NewReader(prefix), data, bytes.NewReader(suffix)), mw.FormDataContentType(), length
}

// mustUpload uploads data raw and checks the 201 answer against it.
func (s *suite) mustUpload(t testing.TB, token, name string, data []byte) mediaItem {
	t.Helper()
	a := s.uploadRaw(t, token, name, data)
	mustStatus(t, "upload "+name, a, http.StatusCreated)
	it := decodeJSON[mediaItem](t, "upload "+name, a)
	checkItem(t, it, data)
	return it
}

// mustMultipart uploads data as multipart with a Content-Length and checks
// the 201 answer against it.
func (s *suite) mustMultipart(t testing.TB, token, name string, data []byte) mediaItem {
	t.Helper()
	a, err := s.uploadMultipart(token, name, bytes.NewReader(data), int64(len(data)), 0)
	if err != nil {
		t.Fatalf("multipart upload of %s: %v", name, err)
	}
	mustStatus(t, "multipart upload "+name, a, http.StatusCreated)
	it := decodeJSON[mediaItem](t, "multipart upload "+name, a)
	checkItem(t, it, data)
	return it
}

// checkItem checks what the API says about an item holding data: id, size,
// sha256, created_at and url (the path-escaped /smedia/{id}/{filename}).
func checkItem(t testing.TB, it mediaItem, data []byte) {
	t.Helper()
	if it.ID == "" {
		t.Errorf("item %+v has no id", it)
	}
	if it.Filename == "" {
		t.Errorf("item %+v has no filename", it)
	}
	if it.Size != int64(len(data)) {
		t.Errorf("item %s: size %d, want %d", it.ID, it.Size, len(data))
	}
	if want := sha256Hex(data); it.SHA256 != want {
		t.Errorf("item %s: sha256 %q, want %q", it.ID, it.SHA256, want)
	}
	if it.ContentType == "" {
		t.Errorf("item %s has no content_type", it.ID)
	}
	if _, err := time.Parse(time.RFC3339Nano, it.CreatedAt); err != nil {
		t.Errorf("item %s: created_at %q is not RFC 3339: %v", it.ID, it.CreatedAt, err)
	}
	u, err := url.Parse(it.URL)
	switch {
	case err != nil:
		t.Errorf("item %s: url %q does not parse: %v", it.ID, it.URL, err)
	case u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || strings.Contains(it.URL, "?") || strings.Contains(it.URL, "#"):
		t.Errorf("item %s: url %q is not a bare path", it.ID, it.URL)
	case u.Path != "/smedia/"+string(it.ID)+"/"+it.Filename:
		t.Errorf("item %s: url %q names %q, want /smedia/%s/%s", it.ID, it.URL, u.Path, it.ID, it.Filename)
	case !printableASCII(it.URL) || strings.Contains(it.URL, " "):
		t.Errorf("item %s: url %q is not path-escaped", it.ID, it.URL)
	}
}

// listAll walks GET /api/media to its last page.
func (s *suite) listAll(t testing.TB, token string) []mediaItem {
	t.Helper()
	var all []mediaItem
	cursor := ""
	for range 100 {
		p := "/api/media?limit=100"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		a := s.get(t, p, token)
		mustStatus(t, "list media", a, http.StatusOK)
		page := decodeJSON[mediaList](t, "list media", a)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatal("GET /api/media: more than 100 pages")
	return nil
}

// ids returns the items' ids.
func ids(items []mediaItem) []flexID {
	var out []flexID
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// rawExchange sends one request over its own connection with Connection:
// close and returns the answer's head and how many bytes followed it. It is
// how a test sees whether a HEAD answer carried a body.
func (s *suite) rawExchange(t testing.TB, method, path, token string) (a *answer, trailing int) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(requestTimeout))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, s.addr)
	if token != "" {
		fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", token)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	a = &answer{Status: resp.StatusCode, Header: resp.Header, Length: resp.ContentLength}
	if method != http.MethodHead {
		a.Body, _ = io.ReadAll(resp.Body)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(br)
	return a, len(rest)
}

// sha256Hex is the lowercase hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// printableASCII reports whether s holds only bytes 0x20 to 0x7e.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a control character or invalid UTF-8.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// extValue matches the filename* parameter of a Content-Disposition.
var extValue = regexp.MustCompile(`(?i);\s*filename\*\s*=\s*[^;]*`)

// checkDisposition checks that a has exactly one Content-Disposition, of
// type wantType, naming name (filename* wins, as in mime.ParseMediaType),
// with a printable-ASCII filename= fallback, and with filename* when name is
// not ASCII.
func checkDisposition(t testing.TB, what string, a *answer, wantType, name string) {
	t.Helper()
	vals := a.Header.Values("Content-Disposition")
	if len(vals) != 1 {
		t.Errorf("%s: want one Content-Disposition, got %q", what, vals)
		if len(vals) == 0 {
			return
		}
	}
	cd := vals[0]
	typ, params, err := mime.ParseMediaType(cd)
	if err != nil {
		t.Errorf("%s: Content-Disposition %q does not parse: %v", what, cd, err)
		return
	}
	if typ != wantType {
		t.Errorf("%s: Content-Disposition %q is %q, want %q", what, cd, typ, wantType)
	}
	if params["filename"] != name {
		t.Errorf("%s: Content-Disposition %q names %q, want %q", what, cd, params["filename"], name)
	}
	if !isASCII(name) && !strings.Contains(strings.ToLower(cd), "filename*=") {
		t.Errorf("%s: Content-Disposition %q has no filename* for the non-ASCII name %q", what, cd, name)
	}
	_, fallback, err := mime.ParseMediaType(extValue.ReplaceAllString(cd, ""))
	switch fb, ok := fallback["filename"]; {
	case err != nil || !ok || fb == "":
		t.Errorf("%s: Content-Disposition %q has no ASCII fallback filename= (%v)", what, cd, err)
	case !printableASCII(fb):
		t.Errorf("%s: Content-Disposition %q: fallback filename %q is not printable ASCII", what, cd, fb)
	}
}

// checkPrivateHeaders checks the headers every answer with private bytes
// carries: Cache-Control private, Vary on the cookie and Authorization (no
// shared cache may give one caller's answer to another), nosniff, and no
// leaked X-Accel-Redirect.
func checkPrivateHeaders(t testing.TB, what string, a *answer) {
	t.Helper()
	if !hasToken(a.Header, "Cache-Control", "private") {
		t.Errorf("%s: Cache-Control %q does not contain private", what, a.Header.Values("Cache-Control"))
	}
	if !varyCaller(a.Header) {
		t.Errorf("%s: Vary %q does not name both Cookie and Authorization", what, a.Header.Values("Vary"))
	}
	checkNoEngineHeaders(t, what, a)
	if !nosniff(a.Header) {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, a.Header.Values("X-Content-Type-Options"))
	}
	if leaked := handoffHeaders(a.Header); leaked != "" {
		t.Errorf("%s: the client got the handoff headers %s", what, leaked)
	}
}

// handoffHeaders lists the headers of h that only the front end may see
// (X-Accel-*, X-Sendfile*), with their values.
func handoffHeaders(h http.Header) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-accel-") || strings.HasPrefix(lk, "x-sendfile") {
			out = append(out, fmt.Sprintf("%s: %q", k, h.Values(k)))
		}
	}
	return strings.Join(out, ", ")
}

// checkNoEngineHeaders checks that nothing of the storage engine's own
// answer reaches the client: no x-amz-* or CORS header, no engine Server,
// no Vary beyond ours, and no XML error body.
func checkNoEngineHeaders(t testing.TB, what string, a *answer) {
	t.Helper()
	for k := range a.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") || strings.HasPrefix(lk, "access-control-") {
			t.Errorf("%s: the engine's header %s: %q reached the client", what, k, a.Header.Values(k))
		}
	}
	if sv := a.Header.Get("Server"); strings.Contains(strings.ToLower(sv), "seaweed") {
		t.Errorf("%s: Server %q is the engine's", what, sv)
	}
	for _, v := range a.Header.Values("Vary") {
		for part := range strings.SplitSeq(v, ",") {
			if p := strings.TrimSpace(part); p != "Cookie" && p != "Authorization" {
				t.Errorf("%s: Vary %q names %q, not ours", what, a.Header.Values("Vary"), p)
			}
		}
	}
	if bytes.Contains(a.Body, []byte("<Error><Code>")) {
		t.Errorf("%s: the engine's XML error reached the client: %.200q", what, a.Body)
	}
}

// varyCaller reports whether h's Vary names both Cookie and Authorization.
func varyCaller(h http.Header) bool {
	return hasToken(h, "Vary", "Cookie") && hasToken(h, "Vary", "Authorization")
}

// nosniff reports whether h carries X-Content-Type-Options: nosniff.
func nosniff(h http.Header) bool {
	return slices.ContainsFunc(h.Values("X-Content-Type-Options"), func(v string) bool {
		return strings.EqualFold(strings.TrimSpace(v), "nosniff")
	})
}

// field selects what of an answer the modes must agree on.
type field uint

// The comparable parts of an answer.
const (
	cmpStatus field = 1 << iota
	cmpBody
	cmpType
	cmpDisposition
	cmpRange
	cmpLength
	cmpPrivate
	cmpNosniff
	cmpVary
	cmpHeaders // the security and caching headers exactly, and any handoff header
	cmpCSP

	// cmpMedia is everything a file answer must agree on.
	cmpMedia = cmpStatus | cmpBody | cmpType | cmpDisposition | cmpRange | cmpLength | cmpPrivate | cmpNosniff | cmpVary | cmpCSP
)

// view is the comparable part of an answer.
type view struct {
	Fields             field
	Status             int
	BodyLen            int
	BodySHA256         string
	ContentType        string
	ContentDisposition string
	ContentRange       string
	ContentLength      int64
	CachePrivate       bool
	Nosniff            bool
	VaryCaller         bool
	Headers            string
	CSP                string
}

// viewOf keeps the fields of a that f selects.
func viewOf(a *answer, f field) view {
	v := view{Fields: f}
	join := func(name string) string { return strings.Join(a.Header.Values(name), " | ") }
	if f&cmpStatus != 0 {
		v.Status = a.Status
	}
	if f&cmpBody != 0 {
		v.BodyLen, v.BodySHA256 = len(a.Body), sha256Hex(a.Body)[:16]
	}
	if f&cmpType != 0 {
		v.ContentType = join("Content-Type")
	}
	if f&cmpDisposition != 0 {
		v.ContentDisposition = join("Content-Disposition")
	}
	if f&cmpRange != 0 {
		v.ContentRange = join("Content-Range")
	}
	if f&cmpLength != 0 {
		v.ContentLength = a.Length
	}
	if f&cmpPrivate != 0 {
		v.CachePrivate = hasToken(a.Header, "Cache-Control", "private")
	}
	if f&cmpNosniff != 0 {
		v.Nosniff = nosniff(a.Header)
	}
	if f&cmpVary != 0 {
		v.VaryCaller = varyCaller(a.Header)
	}
	if f&cmpHeaders != 0 {
		// nginx repeats its added headers on some error answers: the same
		// value twice is the same header.
		var hs []string
		for _, k := range []string{"Content-Security-Policy", "Referrer-Policy", "Cache-Control", "X-Content-Type-Options"} {
			hs = append(hs, k+": "+strings.Join(slices.Compact(a.Header.Values(k)), " | "))
		}
		v.Headers = strings.Join(append(hs, "handoff: "+handoffHeaders(a.Header)), "; ")
	}
	if f&cmpCSP != 0 {
		// nginx repeats its headers on an error page it redirects to.
		v.CSP = strings.Join(slices.Compact(a.Header.Values("Content-Security-Policy")), " | ")
	}
	return v
}

// recorder keeps, per suite (storage and mode), the answers that all suites
// must give alike.
type recorder struct {
	mu    sync.Mutex
	views map[string]map[string]view // suite label -> key -> view
	keys  []string                   // in the order first kept
	ref   string                     // the suite the others are compared with; local-direct when empty
}

// newRecorder returns an empty recorder.
func newRecorder() *recorder {
	return &recorder{views: map[string]map[string]view{}}
}

// keep records the fields f of the answer a under key for the suite's mode.
func (s *suite) keep(t testing.TB, key string, a *answer, f field) {
	t.Helper()
	r := s.rec
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.views[s.label()]
	if m == nil {
		m = map[string]view{}
		r.views[s.label()] = m
	}
	if _, dup := m[key]; dup {
		t.Fatalf("answer %q kept twice", key)
	}
	m[key] = viewOf(a, f)
	if !slices.Contains(r.keys, key) {
		r.keys = append(r.keys, key)
	}
}

// compare fails t for every key whose views differ between the suites
// (storage and mode): each is compared with the reference, local-direct
// unless r.ref names another.
func (r *recorder) compare(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := storageLocal + "-" + modeDirect
	if r.ref != "" {
		ref = r.ref
	}
	base := r.views[ref]
	labels := slices.Sorted(maps.Keys(r.views))
	if len(base) == 0 || len(labels) < 2 {
		t.Logf("suites compared: none (%v)", labels)
		return
	}
	for _, l := range labels {
		if l == ref {
			continue
		}
		other := r.views[l]
		compared, missing := 0, 0
		for _, k := range r.keys {
			d, okD := base[k]
			a, okA := other[k]
			if !okD || !okA {
				missing++
				continue
			}
			compared++
			if d != a {
				t.Errorf("%s: %s and %s differ\n%s: %+v\n%s: %+v", k, ref, l, ref, d, l, a)
			}
		}
		t.Logf("compared %d answers between %s and %s; %d were kept by one only", compared, ref, l, missing)
	}
}
