#!/usr/bin/env bash
# Installs what `make test` and `make bench` need when it is missing: nginx,
# ffmpeg, chromium (the browser tests), wrk (the benchmarks' load generator),
# and Apache with mod_xsendfile and Caddy (the other front ends the e2e tests
# run behind, in the foreground with their own config: Debian may start their
# system services on install, which the tests do not use) from Debian's
# packages (when run as root with apt), staticcheck
# and SeaweedFS (the S3 engine of the storage tests) from the Go module proxy;
# and starts the local PostgreSQL cluster if it is stopped.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium) # e2e/browser_test.go drives it headless
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
[ -e /usr/lib/apache2/modules/mod_xsendfile.so ] || missing+=(libapache2-mod-xsendfile)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing[*]} from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "deps: missing ${missing[*]}; install them (tests that need them will skip)" >&2
  fi
fi

gobin="$(go env GOPATH)/bin"
if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$gobin/staticcheck" ]; then
  echo "deps: installing staticcheck" >&2
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# PostgreSQL: start the local cluster when it is installed but stopped.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for v in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# SeaweedFS, the S3 engine of the storage tests: built from the Go module
# proxy once and cached in GOBIN (scripts/seaweedfs.sh).
if ! "$(dirname "$0")/seaweedfs.sh" >/dev/null; then
  echo "deps: could not build SeaweedFS (tests that need it will skip)" >&2
fi
