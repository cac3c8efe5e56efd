// Package e2e holds Mediagate's end-to-end tests. They build ./cmd/server once,
// start the binary against a fresh PostgreSQL database, with or without a real
// nginx configured by "mediagate nginx-config" in front of it, and check the
// HTTP and command-line contract that integrators rely on.
//
// Run them with "go test ./e2e/" (add -short to skip the 2 GiB upload). A
// missing nginx or PostgreSQL skips the tests that need it, or fails them when
// MEDIAGATE_REQUIRE_SERVICES is set (see internal/testenv).
package e2e
