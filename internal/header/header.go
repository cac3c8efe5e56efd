// Package header sets several response headers at once, with one
// allocation for all their values where http.Header.Set makes one each:
// the streaming path sets a dozen headers per request.
package header

import (
	"net/http"
	"net/textproto"
)

// Set sets each name in kv (name, value, name, value, ...) to its value in
// h, replacing what was there, as h.Set would one by one. The values share
// one array; each name gets a slice of it with no room to grow, so that an
// Add to one name copies its values rather than overwriting its neighbour's.
// A name left without its value is ignored.
func Set(h http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		h[textproto.CanonicalMIMEHeaderKey(kv[2*i])] = vals[i : i+1 : i+1]
	}
}
