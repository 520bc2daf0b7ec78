#!/usr/bin/env bash
# scripts/wasm-opt-cached.sh IN OUT CACHEDIR: OUT is wasm-opt's output for
# IN, taken from CACHEDIR when wasm-opt already optimized the same bytes.
#
# The cache key is the sha256 of IN and of $KEY (the binaryen version and the
# flags), so a new wasm-opt or new flags never reuse an old output. The
# command is $WASMOPT $WASMOPTFLAGS (both from the Makefile). The cache keeps
# the newest 8 outputs.
set -euo pipefail

in=$1
out=$2
cache=$3
: "${WASMOPT:?}" "${WASMOPTFLAGS:?}" "${KEY:?}"

sum=$({ sha256sum <"$in"; printf '%s' "$KEY"; } | sha256sum | cut -c1-64)
hit=$cache/$sum.wasm
mkdir -p "$cache"
if [[ -f $hit ]]; then
	echo "wasm-opt: $in unchanged since an earlier build (sha256 key ${sum:0:12}): reusing $hit"
	touch "$hit"
else
	# shellcheck disable=SC2086 # the flags are words
	$WASMOPT $WASMOPTFLAGS "$in" -o "$hit.tmp"
	mv "$hit.tmp" "$hit"
	# Keep the newest 8 outputs.
	ls -1t "$cache"/*.wasm | tail -n +9 | xargs -r rm -f
fi
cp "$hit" "$out.tmp"
mv "$out.tmp" "$out"
