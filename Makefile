# apiguard's build, tests and demo.
#
# Prerequisites, and why each is needed (everything else installs itself into
# build/, pinned, as an ordinary user, the first time a target needs it):
#
#   Go (go.mod's version; GOTOOLCHAIN fetches it if needed)
#       builds the filter (GOOS=wasip1), the CLI and the tools; `go install`
#       fetches, from the Go module proxy, the envoyproxy/ratelimit service
#       (RATELIMIT_VERSION; make test: the quota tests), promtool
#       (PROMETHEUS_VERSION; make test: the alert rules' tests) and
#       staticcheck (STATICCHECK_VERSION; make check, make test) into build/.
#   Node.js and npm
#       run binaryen's wasm-opt (BINARYEN_VERSION, installed from the npm
#       registry into build/tools/), which makes the module about 7 % smaller
#       (make build, make run, make test). When npm is missing, Debian's
#       nodejs and npm are installed with apt-get: that step alone needs root.
#   apt-get and dpkg-deb (Debian)
#       make test only: scripts/redis.sh downloads Debian's redis-tools
#       package (REDIS_VERSION) and the libraries it needs with
#       `apt-get download` and unpacks them into build/redis/ with
#       `dpkg-deb -x`: nothing is installed, no service is enabled; the quota
#       tests start redis-server on a free loopback port and stop it. On
#       another system, install Redis and pass REDIS_SERVER=/path/to/it.
#
# A second make test installs nothing. VERSION (the file) is the version
# every build embeds and the OCI image's tag.

GO       ?= go
WASM     := build/apiguard.wasm
OVERLAY  := build/overlay/overlay.json
WASMENV  := GOOS=wasip1 GOARCH=wasm
# The version and commit every build embeds (internal/buildinfo): the file
# VERSION, and git rev-parse (or "unknown" outside a git checkout). The same
# version names the OCI image (make oci) and the filter's build gauge.
VERSION  ?= $(shell cat VERSION)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILDPKG := github.com/apiguard/apiguard/internal/buildinfo
VERSIONFLAGS := -X $(BUILDPKG).version=$(VERSION) -X $(BUILDPKG).commit=$(COMMIT)
# -s -w strip DWARF and the symbol table; -trimpath keeps build paths out.
WASMFLAGS := -buildmode=c-shared -trimpath -ldflags='-s -w $(VERSIONFLAGS)'
# The fixtures carry no version (they are not apiguard).
FIXTUREFLAGS := -buildmode=c-shared -trimpath -ldflags='-s -w'
FIXTURES := build/fixtures/timer-stock.wasm build/fixtures/timer-patched.wasm
FUZZTIME ?= 60s
BENCHCOUNT ?= 6

# Sources that go into the filter: every file of this module's packages that
# ./filter imports, as `go list -deps` computes them (internal/wasmvm.Sources
# asks the same query to tell a stale module; its test keeps the two equal),
# and go.mod, go.sum.
SRCS_TEMPLATE := {{if and .Module .Module.Main}}{{$$d := .Dir}}{{range .GoFiles}}{{$$d}}/{{.}}{{"\n"}}{{end}}{{range .IgnoredGoFiles}}{{$$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$$d}}/{{.}}{{"\n"}}{{end}}{{end}}
FILTER_SRCS := $(shell $(WASMENV) $(GO) list -deps -f '$(SRCS_TEMPLATE)' ./filter) go.mod go.sum

.PHONY: all build cli oci manifests rules test check vet staticcheck fuzz bench e2e run clean overlay redis ratelimit-deps

# The real components of the quota tests (internal/testing/quotatest): the
# envoyproxy/ratelimit service, built from the Go module proxy at this
# version into build/ratelimit/<version>/ (once: about 40 s with a cold
# module cache), and Redis (redis, below).
RATELIMIT_VERSION := v1.4.1-0.20260122083618-3fb702589d36
RATELIMIT_BIN     := build/ratelimit/$(RATELIMIT_VERSION)/service_cmd

all: build

build: $(WASM)

# The command-line tool, with the same version and commit as the module.
cli:
	@mkdir -p build
	$(GO) build -trimpath -ldflags='$(VERSIONFLAGS)' -o build/apiguard ./cmd/apiguard

# build/apiguard.wasm as an OCI image layout in build/oci, named after the
# version (VERSION; tools/ocipack makes it a valid tag), for crane/oras to push
# where Istio's WasmPlugin pulls it (docs/operations.md, "OCI image for Istio";
# tools/ocipack's tests run the push commands of the README and docs/ against an
# in-memory registry). OCIVARIANT=artifact builds the
# Wasm-media-type variant instead of the single-layer "compat" image.
OCIVARIANT ?= compat
OCITAG     ?= $(VERSION)
oci: build
	$(GO) run ./tools/ocipack -wasm $(WASM) -out build/oci -tag $(OCITAG) -variant $(OCIVARIANT) \
		-version $(VERSION) -revision $(COMMIT)

# The manifests of deploy/ rendered into build/deploy/, pinned to the image
# make oci just built: every url naming registry.example.com/apiguard:v0.1.0
# becomes $(IMAGE)@sha256:<manifest digest>, with the API's sha256 field set
# to the same digest (tools/manifests says why it is that digest); every
# rendered file is validated. Push build/oci to $(IMAGE) first (docs/deploy/).
IMAGE ?= registry.example.com/apiguard
manifests: oci
	$(GO) run ./tools/manifests -oci build/oci -in deploy -out build/deploy -image $(IMAGE)

# The Prometheus alert rules, checked and unit-tested by the real promtool,
# built from the Go module proxy at this Prometheus version (module versions
# v0.3xx.y are Prometheus 3.xx.y) into build/promtool/<version>/, without
# the service-discovery plugins promtool does not need for rules
# (remove_all_sd): no prometheus package, no service.
PROMETHEUS_VERSION := v0.316.0
PROMETHEUS_RELEASE := 3.16.0
PROMTOOL := build/promtool/$(PROMETHEUS_VERSION)/promtool
RULES := deploy/prometheus/apiguard.rules.yaml
$(PROMTOOL):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install -tags remove_all_sd -trimpath \
		-ldflags='-s -w -X github.com/prometheus/common/version.Version=$(PROMETHEUS_RELEASE)' \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
rules: $(PROMTOOL)
	$(PROMTOOL) check rules $(RULES)
	$(PROMTOOL) test rules deploy/prometheus/apiguard.rules.test.yaml

# The runtime patch for hosts without poll_oneoff (see tools/pollpatch); it is
# regenerated for whichever toolchain runs, and rewritten only when it changes.
overlay:
	@$(GO) run ./tools/pollpatch -out build/overlay

$(OVERLAY): overlay

# The patch's own source is a prerequisite: a change to what it patches
# rebuilds the module (overlay is order-only, as it runs every time).
PATCHSRC := tools/pollpatch/main.go

# The module as Go links it goes through binaryen's wasm-opt -Oz (about 7 %
# smaller: Go does not optimize its wasm output for size), fetched from the
# npm registry into build/tools/ on first use; Debian's nodejs and npm are
# installed when npm is missing. Every test runs against the optimized module.
# wasm-opt takes close to a minute, so its output is kept in
# build/wasm-opt-cache/ under the sha256 of its input, the binaryen version
# and the flags: a link that gives the same bytes (a comment changed, files
# touched by a checkout, a VERSION-only rebuild undone) costs no wasm-opt run.
BINARYEN_VERSION := 132.0.0
BINARYEN_DIR     := build/tools/binaryen-$(BINARYEN_VERSION)
WASMOPT          := $(BINARYEN_DIR)/node_modules/binaryen/bin/wasm-opt
WASMOPTFLAGS     := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals

$(WASMOPT):
	@command -v npm >/dev/null 2>&1 || { \
		echo 'npm is missing: installing Debian'"'"'s nodejs and npm'; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }
	@mkdir -p $(BINARYEN_DIR)
	npm install --silent --no-audit --no-fund --prefix $(BINARYEN_DIR) binaryen@$(BINARYEN_VERSION)
	@$(WASMOPT) --version

$(WASM): $(FILTER_SRCS) $(PATCHSRC) | overlay $(WASMOPT)
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -overlay $(OVERLAY) -o build/apiguard.linked.wasm ./filter
	@WASMOPT='$(WASMOPT)' WASMOPTFLAGS='$(WASMOPTFLAGS)' KEY='$(BINARYEN_VERSION) $(WASMOPTFLAGS)' \
		./scripts/wasm-opt-cached.sh build/apiguard.linked.wasm $@ build/wasm-opt-cache
	@ls -l build/apiguard.linked.wasm $@

# Fixtures for the poll_oneoff test: the same tiny timer plugin built with the
# stock runtime and with the patched one.
build/fixtures/timer-stock.wasm: $(shell find filter/internal -name "*.go")
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(FIXTUREFLAGS) -o $@ ./filter/internal/testplugins/timer
build/fixtures/timer-patched.wasm: $(shell find filter/internal -name "*.go") $(PATCHSRC) | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(FIXTUREFLAGS) -overlay $(OVERLAY) -o $@ ./filter/internal/testplugins/timer

# The floor of the wasm benchmarks: a plugin that only continues, built like
# the filter (same toolchain, bridge and overlay).
build/fixtures/passthrough.wasm: $(shell find filter/internal -name "*.go") go.mod go.sum $(PATCHSRC) | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(FIXTUREFLAGS) -overlay $(OVERLAY) -o $@ ./filter/internal/testplugins/passthrough

# The floor of the cpphost benchmarks: a plugin that makes the host calls of
# an allowed, rate-limited apiguard request and decides nothing.
build/fixtures/floor.wasm: $(shell find filter/internal -name "*.go") go.mod go.sum $(PATCHSRC) | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(FIXTUREFLAGS) -overlay $(OVERLAY) -o $@ ./filter/internal/testplugins/floor

# The filter with one more export, apiguard_debug_mallocs, for the
# benchmarks' allocation counts (never shipped).
build/fixtures/apiguard-debug.wasm: $(FILTER_SRCS) $(PATCHSRC) | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -tags apiguard_debug -overlay $(OVERLAY) -o $@ ./filter

# The filter without its filter state (-tags apiguard_nofilterstate: it
# never calls proxy_set_property), optimized like the module, for the
# benchmarks' with/without comparison (never shipped).
build/fixtures/apiguard-nofilterstate.wasm: $(FILTER_SRCS) $(PATCHSRC) | overlay $(WASMOPT)
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -tags apiguard_nofilterstate -overlay $(OVERLAY) -o build/fixtures/apiguard-nofilterstate.linked.wasm ./filter
	$(WASMOPT) $(WASMOPTFLAGS) build/fixtures/apiguard-nofilterstate.linked.wasm -o $@

# The filter with its function names (no -s; wasm-opt -g keeps them through
# the same optimization as the module's), for BenchmarkHostAttribution's
# wazero function listeners, which name each function (never shipped).
build/fixtures/apiguard-profile.wasm: $(FILTER_SRCS) $(PATCHSRC) | overlay $(WASMOPT)
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build -buildmode=c-shared -trimpath -ldflags='-w' -overlay $(OVERLAY) -o build/fixtures/apiguard-profile.linked.wasm ./filter
	@WASMOPT='$(WASMOPT)' WASMOPTFLAGS='$(WASMOPTFLAGS) -g' KEY='$(BINARYEN_VERSION) $(WASMOPTFLAGS) -g' \
		./scripts/wasm-opt-cached.sh build/fixtures/apiguard-profile.linked.wasm $@ build/wasm-opt-cache

$(RATELIMIT_BIN):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/envoyproxy/ratelimit/src/service_cmd@$(RATELIMIT_VERSION)

# Redis for the quota tests: Debian's build of this Redis release, unpacked
# into build/redis/ (scripts/redis.sh), or REDIS_SERVER=/path/to/redis-server.
REDIS_VERSION := 7.0.15
REDIS_DIR     := build/redis/$(REDIS_VERSION)
REDIS_SERVER  ?= $(abspath $(REDIS_DIR))/bin/redis-server
redis:
	@if [ '$(REDIS_SERVER)' = '$(abspath $(REDIS_DIR))/bin/redis-server' ]; then \
		./scripts/redis.sh $(REDIS_DIR) $(REDIS_VERSION); \
	else \
		'$(REDIS_SERVER)' --version; \
	fi

ratelimit-deps: $(RATELIMIT_BIN) redis

vet:
	@test -z "$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))" || { gofmt -l $$(git ls-files -co --exclude-standard '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(WASMENV) $(GO) vet ./filter/...

# staticcheck, built from the Go module proxy at this version into
# build/staticcheck/<version>/ (once, a few seconds with a warm module cache).
# The whole tree natively, then the filter as it is built for wasm; there
# U1000 (unused) is off, since staticcheck does not see that the host calls
# the bridge's //go:wasmexport functions.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := build/staticcheck/$(STATICCHECK_VERSION)/staticcheck
$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(WASMENV) $(STATICCHECK) -checks inherit,-U1000 ./filter/...

# The fast loop: vet, staticcheck and the native tests (go test -short: every
# test that needs the compiled module, its fixtures, Redis or the rate-limit
# service skips and says so). No root, no build of the module; under a minute
# with a warm build cache. make test runs everything.
check: vet staticcheck
	$(GO) test -short ./...

# Everything: vet, staticcheck, the .wasm, the OCI image, the alert rules (promtool), then
# every test natively, against the .wasm and in cpphost. The e2e suite runs
# too and skips when no Envoy is installed: go test's output is read as JSON
# so that every skip ends up in a "SKIP <package>: N tests (...): <reason>"
# line at the end (tools/testsummary), after go test's usual ok/FAIL lines,
# then one "tests: N passed, N failed, N skipped" line.
# pipefail keeps go test's exit status. The quota suite (internal/testing/quotatest)
# needs Redis and the rate-limit service, which ratelimit-deps provides (their
# paths go to the tests in REDIS_SERVER and RATELIMIT_BIN), and fails without
# them.
test: SHELL := /bin/bash
test: .SHELLFLAGS := -o pipefail -c
test: vet staticcheck build $(FIXTURES) build/fixtures/floor.wasm oci rules ratelimit-deps
	RATELIMIT_BIN=$(abspath $(RATELIMIT_BIN)) REDIS_SERVER='$(REDIS_SERVER)' $(GO) test -count=1 -json ./... | $(GO) run ./tools/testsummary

fuzz:
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzCompile$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzDecide$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzQueryScan$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzHeaderCredentials$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzSnapshot$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzSnapshotUnsigned$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy/keyfetch -run='^$$' -fuzz='^FuzzFirstRange$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./internal/accesslog -run='^$$' -fuzz='^FuzzAppendString$$' -fuzztime=$(FUZZTIME)

# Benchmarks: every package's at -count=$(BENCHCOUNT), then the compiled
# module's (filter/bench_test.go, filter/hostbench_test.go) with fixed
# iteration counts, since each op runs wasm in wazero. All output goes to
# build/bench.txt (benchstat input); tools/benchreport summarises it in
# build/bench.md, writes the headline figures to build/bench.json and the
# attribution table (where a request's time goes) into docs/performance.md.
WASMREQS  ?= 3000
STARTRUNS ?= 3
# Blocks of ten requests per VM and case in a BenchmarkHostAttribution run
# (the attribution table of docs/performance.md).
ATTRBLOCKS ?= 200
# Requests per BenchmarkSteadyTraffic run (memory and GC under traffic). It
# runs STARTRUNS times like the starts: a run's longest request is one
# sample, which the machine's other load moves by as much as 3x.
STEADYREQS ?= 30000
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: build build/fixtures/passthrough.wasm build/fixtures/floor.wasm build/fixtures/apiguard-debug.wasm build/fixtures/apiguard-nofilterstate.wasm build/fixtures/apiguard-profile.wasm
	@mkdir -p build
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) $$($(GO) list ./... | grep -v '/filter$$') | tee build/bench.txt
	$(GO) test -run='^$$' -bench='^Benchmark(WasmRequest|HostRequest|HostIdentityToken|ModuleSize|CursorSeal)$$' -benchmem -benchtime=$(WASMREQS)x -count=$(BENCHCOUNT) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkHostAttribution$$' -benchtime=$(ATTRBLOCKS)x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkRateLimitContention$$' -benchtime=$(WASMREQS)x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkPluginStart(Phases)?$$' -benchtime=1x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkSteadyTraffic$$' -benchtime=$(STEADYREQS)x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkKeyStoreLoad$$' -benchtime=1x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) run ./tools/benchreport -o build/bench.md -json build/bench.json -docs docs/performance.md build/bench.txt

e2e: build
	$(GO) test -count=1 -v ./e2e

run: build
	@./scripts/run.sh

clean:
	rm -rf build
