# guanaco build, test and benchmark entry points.
# Tools are pinned here and run with `go run MODULE@VERSION`, so a fresh machine
# needs nothing but Go and the Debian packages .ci/run installs.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEMPL         := github.com/a-h/templ/cmd/templ@v0.3.1100
PKGS          := ./...
FUZZTIME      ?= 30s
BENCHTIME     ?= 1s

.PHONY: all build test test-go test-docker lint fmt-check vet staticcheck generate check-generated bench fuzz run clean

all: build

## build: compile both programs into ./bin
build:
	$(GO) build -o bin/ ./cmd/...

## run: start fpserver on its embedded default (SQLite in ./data), after
## saying where to point a browser and which CA certificate to trust (the
## addresses are the defaults: ARGS may change them)
run: build
	@echo "fpserver: open https://localhost:8443/ (HTTP/2), https://localhost:8444/ (HTTP/1.1 only), http://localhost:8080/"
	@echo "fpserver: the certificate is issued by a local CA; trust ./data/tls/ca.pem (created on first start) to browse without warnings"
	./bin/fpserver $(ARGS)

## test: lint, generated-code check, the whole test suite and the container test
test: lint check-generated test-go test-docker

test-go:
	$(GO) test -count=1 -timeout 30m $(PKGS)
	# the concurrent parts again under the race detector
	$(GO) test -count=1 -race -timeout 10m ./capture/ ./emulation/transport/ ./emulation/proxy/ ./store/writer/

## test-docker: docker/compose.yaml built and run on a private dockerd with local
## stand-in base images: haproxy -> 2 fpserver -> Postgres, a replica SIGKILLed
## under load, emuproxy reloading profiles (root; skips without docker, fails
## under CI=true)
test-docker:
	bash docker/test/scaleout.sh

## lint: gofmt, go vet and staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

## generate: regenerate templ code (committed)
generate:
	@if ls web/templates/*.templ >/dev/null 2>&1; then $(GO) run $(TEMPL) generate -path web/templates; fi

## check-generated: fail when committed generated code is stale
check-generated: generate
	@git diff --exit-code -- '*_templ.go' || { echo "generated templ code is stale: run make generate and commit"; exit 1; }

## bench: Go benchmarks (ratios against in-run baselines are printed by each)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./fingerprint/... ./inspect/... ./store/...
	$(GO) test -run '^$$' -bench ServeRatio -benchtime 1x ./cmd/fpserver

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; \
	done

## profiles: capture the built-in emulation profiles (emulation/catalogue/*.json)
## from the local chromium and firefox-esr, headed under Xvfb
.PHONY: profiles
profiles:
	$(GO) run ./cmd/profilegen -out emulation/catalogue

## catalogue-import: regenerate the imported built-in profiles (and NOTICE,
## REFUSED.txt) from the published rama and curl-impersonate data in
## PROFILE_SOURCES
PROFILE_SOURCES ?= third_party/profile-sources
.PHONY: catalogue-import
catalogue-import:
	$(GO) run ./cmd/genprofiles -out emulation/catalogue \
	  -rama $(PROFILE_SOURCES)/rama/embed_profiles.json \
	  -curl-impersonate $(PROFILE_SOURCES)/curl-impersonate/signatures

clean:
	rm -rf bin
