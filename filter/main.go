// Command filter is apiguard's proxy-wasm plugin: built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/apiguard.wasm ./filter
//
// it becomes the module Envoy loads. It validates API keys, checks scopes,
// enforces pagination limits and rate limits, by asking the compiled policy
// (package policy) and applying its answer to the request.
//
// This file only wires the plugin into the SDK; plugin.go holds the contexts.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	_ "github.com/apiguard/apiguard/filter/internal/bridge" // SDK on upstream Go's wasip1; empty elsewhere
)

// init, not main: the module is a WASI reactor (-buildmode=c-shared) and
// main.main never runs in a reactor.
func init() { proxywasm.SetVMContext(newVMContext()) }

func main() {}
