// Package contract checks requests and answers under /api/ against the API
// document (package apidoc), for tests: Handler wraps the server's handler,
// Transport a client's, and either fails the test on any mismatch.
//
// An exchange passes when its route is in the document (or the server
// refused it as no endpoint: 404 or 405 with a JSON error), its answer's
// status, headers, content type and body are the document's for that
// operation, and a request the document refuses (bad parameters, a JSON body
// off its schema, missing credentials) got an error status, not a success.
// A request the document allows may still be refused: the document cannot
// say which emails exist.
//
// Bodies: a JSON request body is checked when the handler (server side) read
// it whole, or the client can replay it; a file body (raw, multipart, tus)
// only for its content type and presence. The server reads a JSON body
// whatever its Content-Type, so one sent without the right type is checked
// as JSON. Answers to HEAD are checked for their status only.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mediagate/mediagate/internal/apidoc"
)

// maxBody bounds the bytes of a body kept for checking; a longer one is not
// checked (no JSON body or answer under /api/ comes near).
const maxBody = 4 << 20

// Document is the API document, loaded and validated, with its router.
type Document struct {
	doc    *openapi3.T
	router routers.Router
}

// Load reads and validates the embedded document.
func Load() (*Document, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(apidoc.JSON)
	if err != nil {
		return nil, fmt.Errorf("load the API document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the API document is not valid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the API document: %w", err)
	}
	return &Document{doc: doc, router: router}, nil
}

var loadOnce = sync.OnceValues(Load)

// Default is the document, loaded once per test binary.
func Default(t testing.TB) *Document {
	t.Helper()
	d, err := loadOnce()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Spec is the loaded document, for tests that look into it.
func (d *Document) Spec() *openapi3.T { return d.doc }

// Operation is one method and path of the document, with chi's {param}
// syntax, which OpenAPI shares.
type Operation struct{ Method, Path string }

func (o Operation) String() string { return o.Method + " " + o.Path }

// Operations lists the document's operations.
func (d *Document) Operations() []Operation {
	var out []Operation
	for path, item := range d.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, Operation{Method: strings.ToUpper(method), Path: path})
		}
	}
	slices.SortFunc(out, func(a, b Operation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Exchange is one request and its answer.
type Exchange struct {
	Request *http.Request // headers and URL; its body is not read
	// Body is the request's body when it is known whole; nil when it is not
	// (a file, or a body the handler did not read to its end).
	Body []byte
	// Status, Header and Response are the answer; Response is nil when it
	// was not kept.
	Status   int
	Header   http.Header
	Response []byte
}

// Check reports how ex departs from the document; nil when it does not.
func (d *Document) Check(ex Exchange) error {
	req := ex.Request
	if !strings.HasPrefix(req.URL.Path, "/api/") {
		return nil
	}
	what := req.Method + " " + req.URL.Path
	route, params, err := d.router.FindRoute(req)
	if err != nil && req.Method == http.MethodHead {
		// HEAD is GET without the body (RFC 9110), answered on every GET
		// route: the GET operation covers it.
		get := req.Clone(req.Context())
		get.Method = http.MethodGet
		route, params, err = d.router.FindRoute(get)
	}
	if err != nil {
		if answerErr := d.checkNoEndpoint(ex); answerErr != nil {
			return fmt.Errorf("%s: no operation in the API document (%v), and %w", what, err, answerErr)
		}
		return nil
	}
	reqErr := d.checkRequest(ex, route, params)
	respErr := d.checkResponse(ex, route, params)
	if respErr != nil {
		respErr = fmt.Errorf("%s answered %d: %w", what, ex.Status, respErr)
	}
	if reqErr != nil && ex.Status < 400 {
		return errors.Join(fmt.Errorf("%s: the API document refuses this request, yet it was answered %d: %w", what, ex.Status, reqErr), respErr)
	}
	return respErr
}

// checkNoEndpoint checks the answer to a request no operation takes: the
// API's "no endpoint" error.
func (d *Document) checkNoEndpoint(ex Exchange) error {
	if ex.Status != http.StatusNotFound && ex.Status != http.StatusMethodNotAllowed {
		return fmt.Errorf("the server answered %d, not 404 or 405", ex.Status)
	}
	if ex.Request.Method == http.MethodHead || ex.Response == nil {
		return nil
	}
	return d.checkJSON(ex, d.doc.Components.Schemas["NoEndpointError"])
}

// checkJSON checks that the answer is JSON matching schema.
func (d *Document) checkJSON(ex Exchange, schema *openapi3.SchemaRef) error {
	if mt := mediaType(ex.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("the answer is %q, not JSON", mt)
	}
	var v any
	if err := json.Unmarshal(ex.Response, &v); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("the answer %s does not match the document: %w", bytes.TrimSpace(ex.Response), err)
	}
	return nil
}

// options are the checks' options: every status must be documented, and a
// body the document does not describe is refused.
func options(excludeBody bool) *openapi3filter.Options {
	return &openapi3filter.Options{
		ExcludeRequestBody:                excludeBody,
		IncludeResponseStatus:             true,
		RejectWhenRequestBodyNotSpecified: true,
		SkipSettingDefaults:               true,
		AuthenticationFunc:                authenticated,
	}
}

// authenticated reports whether the request carries the credentials a
// security scheme names; whether they are good is the server's to say.
func authenticated(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r, s := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			return nil
		}
	case s.Type == "apiKey" && s.In == "cookie":
		if _, err := r.Cookie(s.Name); err == nil {
			return nil
		}
	default:
		return fmt.Errorf("security scheme %q: not one this check knows", in.SecuritySchemeName)
	}
	return in.NewError(nil)
}

// checkRequest validates the request's parameters, credentials and, when it
// is known and JSON, its body.
func (d *Document) checkRequest(ex Exchange, route *routers.Route, params map[string]string) error {
	req := ex.Request.Clone(context.Background())
	req.Body = http.NoBody
	exclude := true
	rb := route.Operation.RequestBody
	switch {
	case rb != nil && jsonOnly(rb.Value):
		if ex.Body != nil {
			// The server reads it as JSON whatever its type.
			req.Header.Set("Content-Type", "application/json")
			req.Body = io.NopCloser(bytes.NewReader(ex.Body))
			req.ContentLength = int64(len(ex.Body))
			exclude = false
		}
	case rb != nil:
		if err := fileBody(ex.Request, rb.Value); err != nil {
			return err
		}
	case hasBody(ex.Request):
		return errors.New("the request has a body, which the operation does not take")
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options(exclude)}
	return openapi3filter.ValidateRequest(context.Background(), in)
}

// jsonOnly reports whether a request body is JSON and nothing else.
func jsonOnly(rb *openapi3.RequestBody) bool {
	_, ok := rb.Content["application/json"]
	return ok && len(rb.Content) == 1
}

// hasBody reports whether r sent a body.
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || r.ContentLength == -1 || len(r.TransferEncoding) > 0
}

// fileBody checks a file body's presence and content type.
func fileBody(r *http.Request, rb *openapi3.RequestBody) error {
	if !hasBody(r) {
		if rb.Required {
			return errors.New("the request has no body, which the operation needs")
		}
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if rb.Content.Get(ct) == nil {
		return fmt.Errorf("the request body's Content-Type %q is none of the operation's", ct)
	}
	return nil
}

// checkResponse validates the answer: its status, its headers, its content
// type and body.
func (d *Document) checkResponse(ex Exchange, route *routers.Route, params map[string]string) error {
	resp := route.Operation.Responses.Status(ex.Status)
	if resp == nil {
		return fmt.Errorf("status %d is not in the document for this operation", ex.Status)
	}
	if ex.Request.Method == http.MethodHead || ex.Response == nil {
		return nil // kin-openapi checks nothing of an answer to HEAD
	}
	if len(resp.Value.Content) == 0 && len(ex.Response) > 0 {
		return fmt.Errorf("the answer has a body (%q), which the document does not describe", truncate(ex.Response))
	}
	req := ex.Request.Clone(context.Background())
	req.Body = http.NoBody
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 ex.Status,
		Header:                 ex.Header,
		Options:                options(true),
	}
	in.SetBodyBytes(ex.Response)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

func mediaType(ct string) string {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:200:200], "…"...)
	}
	return b
}

// takesJSON reports whether the document's operation for r takes a JSON
// body, which is then worth keeping.
func (d *Document) takesJSON(r *http.Request) bool {
	route, _, err := d.router.FindRoute(r)
	if err != nil {
		return false
	}
	rb := route.Operation.RequestBody
	return rb != nil && jsonOnly(rb.Value)
}
