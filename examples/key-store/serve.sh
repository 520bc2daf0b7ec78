#!/usr/bin/env bash
# The key store of examples/key-store, on loopback: builds the demo snapshot
# build/key-store/keys.snap from examples/key-store/consumers.json, signed
# with the public demo signing key and checked against
# examples/key-store/config.json, and serves it at
# http://127.0.0.1:8090/keys.snap (the apiguard-keys cluster of
# examples/key-store/envoy.yaml) until Ctrl-C. Run it again after editing
# consumers.json: the new snapshot has a newer generation, and each Envoy
# worker loads it within key_store.refresh.
#
# KEYSTORE_LISTEN sets another address. Run from anywhere; needs Go.
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
LISTEN=${KEYSTORE_LISTEN:-127.0.0.1:8090}

mkdir -p build/key-store
"$GO" run ./cmd/apiguard keys build --consumers examples/key-store/consumers.json \
	--signing-key examples/key-store/demo-signing-key.pem --config examples/key-store/config.json \
	--out build/key-store/keys.snap
"$GO" build -o build/key-store/server ./examples/key-store/server
exec build/key-store/server -listen "$LISTEN" -file build/key-store/keys.snap -path /keys.snap
