# Mediagate. The two commands a fresh machine needs: `make run` and `make test`.
GO      ?= go
BIN     := bin/mediagate
GOBIN   := $(shell $(GO) env GOPATH)/bin
# Debian keeps nginx in /usr/sbin; staticcheck lands in GOBIN.
export PATH := $(PATH):/usr/sbin:/sbin:$(GOBIN)

.PHONY: build run test deps lint fmt vet staticcheck bench clean compose-check fuzz

build:
	$(GO) build -o $(BIN) ./cmd/server

## run: build, then serve with nginx in front when nginx is installed (Ctrl-C stops both)
run: build
	./scripts/run.sh

## test: install what the tests need when missing, lint, run every test
## (fuzz seeds and corpora included), then fuzz each target for a little
test: deps lint compose-check
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

## fuzz: run each fuzz target for FUZZTIME (go test fuzzes one target per
## run). make test gives each TEST_FUZZTIME, a count of runs, not a time: on
## Go 1.26 a -fuzztime duration can end in a spurious "context deadline
## exceeded" FAIL on a loaded machine (golang/go#75804, fixed in Go 1.27),
## which a count has no deadline to race. 10000 runs keep the eleven
## under ~100 s on 2 cores. One target longer: make fuzz FUZZ=FuzzRender FUZZTIME=5m
FUZZTIME ?= 10s
TEST_FUZZTIME ?= 10000x
FUZZ ?=
FUZZ_TARGETS := \
	internal/media:FuzzCleanFilename internal/media:FuzzContentDisposition \
	internal/media:FuzzSendPrivateRange internal/media:FuzzList internal/media:FuzzStreamingHelpers \
	internal/acl:FuzzParseSubject internal/acl:FuzzValidID \
	internal/nginxconf:FuzzRender internal/session:FuzzSessionToken \
	internal/video:FuzzToWebVTT internal/video:FuzzNeedsFaststart
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		if [ -n "$(FUZZ)" ] && [ "$(FUZZ)" != "$$name" ]; then continue; fi; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

deps:
	./scripts/deps.sh

lint: vet fmt staticcheck

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

staticcheck:
	staticcheck ./...

## bench: the benchmarks behind docs/benchmarks.md; -p 1 runs one package at
## a time so that no benchmark competes with another for the CPUs
bench: deps build
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...

## compose-check: validate docker-compose.yml (needs Debian's docker-compose)
compose-check:
	@if command -v docker-compose >/dev/null 2>&1; then docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	elif [ -n "$$MEDIAGATE_REQUIRE_SERVICES" ]; then echo "docker-compose missing" >&2; exit 1; \
	else echo "docker-compose missing: docker-compose.yml not checked" >&2; fi

clean:
	rm -rf bin var
