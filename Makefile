# apiguard — everything installs itself from the Go module proxy; the only
# prerequisite is Go (go.mod's version; GOTOOLCHAIN fetches it if needed).

GO       ?= go
WASM     := build/apiguard.wasm
OVERLAY  := build/overlay/overlay.json
WASMENV  := GOOS=wasip1 GOARCH=wasm
# -s -w strip DWARF and the symbol table; -trimpath keeps build paths out.
WASMFLAGS := -buildmode=c-shared -trimpath -ldflags='-s -w'
FIXTURES := build/fixtures/timer-stock.wasm build/fixtures/timer-patched.wasm
FUZZTIME ?= 60s
BENCHCOUNT ?= 6

# Sources that go into the filter (the bridge, the plugin, the policy).
FILTER_SRCS := $(shell find filter policy -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum

.PHONY: all build test vet fuzz bench e2e run clean overlay

all: build

build: $(WASM)

# The runtime patch for hosts without poll_oneoff (see tools/pollpatch); it is
# regenerated for whichever toolchain runs, and rewritten only when it changes.
overlay:
	@$(GO) run ./tools/pollpatch -out build/overlay

$(OVERLAY): overlay

$(WASM): $(FILTER_SRCS) | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -overlay $(OVERLAY) -o $@ ./filter
	@ls -l $@

# Fixtures for the poll_oneoff test: the same tiny timer plugin built with the
# stock runtime and with the patched one.
build/fixtures/timer-stock.wasm: $(shell find filter/internal -name "*.go")
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -o $@ ./filter/internal/testplugins/timer
build/fixtures/timer-patched.wasm: $(shell find filter/internal -name "*.go") | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -overlay $(OVERLAY) -o $@ ./filter/internal/testplugins/timer

# The floor of the wasm benchmarks: a plugin that only continues, built like
# the filter (same toolchain, bridge and overlay).
build/fixtures/passthrough.wasm: $(shell find filter/internal -name "*.go") go.mod go.sum | overlay
	@mkdir -p $(dir $@)
	$(WASMENV) $(GO) build $(WASMFLAGS) -overlay $(OVERLAY) -o $@ ./filter/internal/testplugins/passthrough

vet:
	@test -z "$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))" || { gofmt -l $$(git ls-files -co --exclude-standard '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(WASMENV) $(GO) vet ./filter/...

# Everything: vet, the .wasm, then every test natively and against the .wasm.
# The e2e suite runs too and skips (saying why) when no Envoy is installed.
test: vet build $(FIXTURES)
	$(GO) test -count=1 ./...

fuzz:
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzCompile$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzDecide$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzSnapshot$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./policy -run='^$$' -fuzz='^FuzzSnapshotUnsigned$$' -fuzztime=$(FUZZTIME)

# Benchmarks: every package's at -count=$(BENCHCOUNT), then the compiled
# module's (filter/bench_test.go) with fixed iteration counts, since each op
# runs wasm in wazero. All output goes to build/bench.txt (benchstat input);
# tools/benchreport summarises it in build/bench.md.
WASMREQS  ?= 3000
STARTRUNS ?= 3
# Requests per BenchmarkSteadyTraffic run (memory and GC under traffic).
STEADYREQS ?= 30000
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: build build/fixtures/passthrough.wasm
	@mkdir -p build
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) $$($(GO) list ./... | grep -v '/filter$$') | tee build/bench.txt
	$(GO) test -run='^$$' -bench='^Benchmark(WasmRequest|ModuleSize)$$' -benchmem -benchtime=$(WASMREQS)x -count=$(BENCHCOUNT) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkRateLimitContention$$' -benchtime=$(WASMREQS)x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkPluginStart$$' -benchtime=1x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkSteadyTraffic$$' -benchtime=$(STEADYREQS)x -count=1 ./filter | tee -a build/bench.txt
	$(GO) test -run='^$$' -bench='^BenchmarkKeyStoreLoad$$' -benchtime=1x -count=$(STARTRUNS) ./filter | tee -a build/bench.txt
	$(GO) run ./tools/benchreport -o build/bench.md build/bench.txt

e2e: build
	$(GO) test -count=1 -v ./e2e

run: build
	@./scripts/run.sh

clean:
	rm -rf build
