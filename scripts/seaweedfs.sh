#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3 engine the tests and `make run` with
# MEDIAGATE_STORAGE=s3 use) from the Go module proxy when it is missing, and
# prints its path. `go install weed@version` is refused because SeaweedFS's
# go.mod has a replace directive, so a throwaway tools module outside this
# repository (never our go.mod) builds it. The binary is cached in GOBIN under
# a name that carries the version: about 8 minutes cold on 2 cores, then free.
set -euo pipefail

version="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
out="$gobin/weed-${version##*-}"

if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi

mod="$(go env GOCACHE)/mediagate-weed-tools"
mkdir -p "$mod" "$gobin"
cd "$mod"
[ -f go.mod ] || go mod init mediagate.local/weedtools >/dev/null 2>&1
echo "seaweedfs: building weed $version (minutes on a cold cache)" >&2
GOFLAGS=-mod=mod go get -tool "github.com/seaweedfs/seaweedfs/weed@$version" >&2
GOFLAGS=-mod=mod go build -o "$out.tmp" github.com/seaweedfs/seaweedfs/weed >&2
mv "$out.tmp" "$out"
echo "$out"
