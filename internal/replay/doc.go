// Package replay runs recorded HTTP requests through the compiled apiguard
// filter (build/apiguard.wasm) offline: the module runs in wazero behind the
// proxy-wasm Go SDK's host emulator (proxytest), exactly the artifact Envoy
// would load, and each request's outcome is read from what the emulator saw.
//
// Recorded traffic is JSON lines (see ParseRequests). It never has to
// contain real keys: "{{key:ID}}" placeholders are resolved from a keys file
// (see LoadKeys) in memory only, and every string the package reports has
// the keys replaced by their placeholders again.
//
// The emulator allows one host at a time per process, so Run holds it for
// the duration of one run; runs of two configurations (a baseline and a
// candidate, see Diff) happen one after the other, each on its own VM.
package replay
