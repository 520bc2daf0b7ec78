#!/usr/bin/env bash
# make run: show apiguard deciding real requests.
#
# With Envoy >= 1.33 (ENVOY_BIN, or envoy on PATH): start the echo upstream
# on 127.0.0.1:8080 and Envoy with envoy.yaml on 127.0.0.1:10000, print curl
# lines to try, and run until Ctrl-C.
#
# Without Envoy: say so, say how to install it, and replay the shipped
# traffic (examples/traffic.jsonl) through the compiled filter offline with
# `apiguard replay`.
#
# Run from anywhere; make run builds build/apiguard.wasm first.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
MIN_MAJOR=1
MIN_MINOR=33

# envoy_version prints the MAJOR.MINOR.PATCH of the envoy binary $1, or
# nothing. `envoy --version` prints e.g.
#   envoy  version: 5d3.../1.33.2/Clean/RELEASE/BoringSSL
envoy_version() {
	"$1" --version 2>/dev/null | grep -Eo '/[0-9]+\.[0-9]+\.[0-9]+/' | head -n1 | tr -d /
}

# version_ok reports whether version $1 is at least MIN_MAJOR.MIN_MINOR.
version_ok() {
	local major minor
	IFS=. read -r major minor _ <<<"$1"
	((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

find_envoy() {
	local bin=${ENVOY_BIN:-}
	if [[ -z $bin ]]; then
		bin=$(command -v envoy || true)
	fi
	[[ -n $bin && -x $bin ]] || return 1
	local v
	v=$(envoy_version "$bin")
	if [[ -z $v ]]; then
		echo "run: $bin does not report a version; ignoring it" >&2
		return 1
	fi
	if ! version_ok "$v"; then
		echo "run: $bin is Envoy $v; apiguard needs >= $MIN_MAJOR.$MIN_MINOR (failure_policy); ignoring it" >&2
		return 1
	fi
	ENVOY=$bin
	ENVOY_VERSION=$v
}

replay() {
	cat <<EOF
Envoy (>= $MIN_MAJOR.$MIN_MINOR) was not found: set ENVOY_BIN or put envoy on PATH. To install it:
  - Debian/Ubuntu: https://www.envoyproxy.io/docs/envoy/latest/start/install
    (apt repository apt.envoyproxy.io), or
  - any OS with Docker: docker run --rm envoyproxy/envoy:v1.33-latest --version
    (copy /usr/local/bin/envoy out of the image), or
  - Homebrew: brew install envoy

Meanwhile, here is the filter itself (build/apiguard.wasm, run offline in
wazero through the proxy-wasm emulator) deciding the shipped traffic
examples/traffic.jsonl with examples/config.json:

EOF
	echo '$ go run ./cmd/apiguard replay --wasm build/apiguard.wasm --config examples/config.json \'
	echo '      --keys examples/demo-keys.txt --requests examples/traffic.jsonl'
	echo
	"$GO" run ./cmd/apiguard replay --wasm build/apiguard.wasm --config examples/config.json \
		--keys examples/demo-keys.txt --requests examples/traffic.jsonl
}

serve() {
	echo "Envoy $ENVOY_VERSION found at $ENVOY."
	mkdir -p build
	"$GO" build -o build/apiguard ./cmd/apiguard
	local pids=()
	cleanup() {
		for pid in "${pids[@]}"; do
			kill "$pid" 2>/dev/null || true
		done
		wait 2>/dev/null || true
	}
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	build/apiguard echo-upstream --listen 127.0.0.1:8080 &
	pids+=($!)
	"$ENVOY" -c envoy.yaml --log-level warn &
	local envoy_pid=$!
	pids+=("$envoy_pid")

	# Wait for Envoy's admin endpoint (envoy.yaml: 127.0.0.1:9901).
	local ready=
	for _ in $(seq 50); do
		if ! kill -0 "$envoy_pid" 2>/dev/null; then
			echo "run: Envoy exited; see its log above" >&2
			exit 1
		fi
		if curl -fsS -o /dev/null http://127.0.0.1:9901/ready 2>/dev/null; then
			ready=1
			break
		fi
		sleep 0.2
	done
	if [[ -z $ready ]]; then
		echo "run: Envoy is not ready after 10s (http://127.0.0.1:9901/ready); carrying on" >&2
	fi

	# The demo keys are public (examples/demo-keys.txt); the lines below read
	# them from there rather than printing them.
	local key='$(awk '\''$1=="billing-2026"{print $2}'\'' examples/demo-keys.txt)'
	cat <<EOF

apiguard is running: Envoy on http://127.0.0.1:10000 in front of an echo
upstream that shows what the filter forwarded. Try, from $(pwd):

  curl -i localhost:10000/healthz
  curl -i localhost:10000/v1/orders
  curl -i -H "x-api-key: $key" localhost:10000/v1/orders
  curl -i -H "x-api-key: $key" 'localhost:10000/v1/orders?limit=500'
  curl -i -H "Authorization: ApiKey $key" -X POST localhost:10000/v1/orders
  curl -s localhost:9901/stats | grep apiguard

Ctrl-C stops Envoy and the upstream.
EOF
	wait -n "${pids[@]}"
}

if find_envoy; then
	serve
else
	replay
fi
