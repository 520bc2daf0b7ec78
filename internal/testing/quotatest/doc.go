// Package quotatest proves apiguard's quotas against the real components:
// Redis (redis-server) and the envoyproxy/ratelimit service, built from the
// Go module proxy at the version the Makefile pins. It has no code outside
// its tests.
//
// Its tests start both on free loopback ports, load the configuration that
// apiguard ratelimit-config writes, run requests through the compiled filter
// (build/apiguard.wasm, in internal/testing/cpphost: one host per Envoy), build the
// descriptors exactly as the request_headers actions in envoy.yaml make
// Envoy build them from the upstream headers, and ask the service over its
// gRPC API (envoy.service.ratelimit.v3), as Envoy's ratelimit filter does.
//
// The tests fail, never skip, when redis-server or the service binary is
// missing: make test unpacks Redis into build/redis/ (scripts/redis.sh: no
// package installed, no service) and builds the service into
// build/ratelimit/ first, and passes their paths in REDIS_SERVER and
// RATELIMIT_BIN. Redis runs only while a test needs it.
package quotatest
