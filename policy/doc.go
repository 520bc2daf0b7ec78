// Package policy holds apiguard's decisions as plain Go: it compiles the
// filter's JSON configuration into immutable lookup structures once, and
// answers one question per request (allow or deny, and what to change on the
// way upstream). It does not import the proxy-wasm SDK, so it is tested,
// fuzzed and benchmarked natively and reused by the command-line tool.
package policy
