// Package bench holds the benchmarks behind docs/benchmarks.md. It has no
// tests: "go test ./..." runs nothing here, and "make bench" (go test -bench)
// runs every benchmark.
//
// The serving benchmarks build ./cmd/server, start it against a fresh
// PostgreSQL database with a real nginx in front (as the e2e suite does) and
// load it with wrk on 127.0.0.1 only, each run bounded in time and
// connections; BenchmarkSmedia1KB also starts a second app instance on a
// Unix socket behind its own nginx. The S3 variants run a second such stack on
// MEDIAGATE_STORAGE=s3 with a SeaweedFS of its own (internal/testweed) and
// compare it with nginx proxying a presigned URL without the app, and an
// upload through the app with the SDK's own PutObject. The decision
// benchmarks generate a large access model (1M items, 10k users, 1k groups,
// folders 12 deep) in a database of their own, mg_bench_<random>, dropped at
// the end. Every figure is reported next to a baseline measured in the same
// run.
//
// A missing nginx, wrk, PostgreSQL or (for the S3 benchmarks) SeaweedFS weed
// skips a benchmark, or fails it when MEDIAGATE_REQUIRE_SERVICES is set (see
// internal/testenv).
package bench
