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

bench: build
	@mkdir -p build
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./... | tee build/bench.txt

e2e: build
	$(GO) test -count=1 -v ./e2e

run: build
	@./scripts/run.sh

clean:
	rm -rf build
