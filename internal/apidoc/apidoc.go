// Package apidoc holds the OpenAPI 3.1 document of the JSON API under
// /api/, written by hand and embedded in the binary, which serves it at
// GET /api/openapi.json. Package contract checks requests and answers
// against it in tests.
package apidoc

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// JSON is the document.
//
//go:embed openapi.json
var JSON []byte

// ETag names this version of the document.
var ETag = func() string {
	sum := sha256.Sum256(JSON)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()
