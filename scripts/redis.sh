#!/usr/bin/env bash
# scripts/redis.sh DIR VERSION: put Redis VERSION's server at DIR/bin/redis-server
# for the quota tests (internal/testing/quotatest), without installing anything.
#
# It downloads Debian's redis-tools package (which holds the server binary;
# the redis-server package adds only the service, its configuration and the
# redis user) and the libraries it needs beyond a base Debian system with
# `apt-get download`, unpacks them under DIR with `dpkg-deb -x`, and writes
# DIR/bin/redis-server, a wrapper that runs the unpacked binary with the
# unpacked libraries. No package is installed, no service is enabled, no
# maintainer script runs; the tests start the server on a free loopback port
# and stop it when they end. Nothing here needs root, except that when apt
# has no package lists yet (a fresh container) and this runs as root, it runs
# `apt-get update` once.
#
# VERSION pins the Redis release: the script refuses a Debian candidate of
# another upstream version. Debian's security archive keeps only the newest
# build of a release (7.0.15-1~deb12uN), so the Debian revision is not
# pinned. Elsewhere (not Debian), install Redis VERSION yourself and run
# make test REDIS_SERVER=/path/to/redis-server.
set -euo pipefail

dir=$1
want=$2

if [[ -x $dir/bin/redis-server ]] && "$dir/bin/redis-server" --version 2>/dev/null | grep -q "v=$want "; then
	exit 0
fi
for tool in apt-get apt-cache dpkg-deb; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "redis.sh: $tool is missing (not a Debian system?): install Redis $want and run make test REDIS_SERVER=/path/to/redis-server" >&2
		exit 1
	fi
done

pkgs=(redis-tools liblzf1 libjemalloc2 libatomic1 libssl3)

candidate() { apt-cache policy redis-tools 2>/dev/null | awk '/Candidate:/ {print $2}'; }
cand=$(candidate)
if [[ -z $cand || $cand == "(none)" ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "redis.sh: apt knows no redis-tools package: run apt-get update (as root) once, then make test again" >&2
		exit 1
	fi
	echo "redis.sh: apt has no package lists: apt-get update"
	apt-get update -qq
	cand=$(candidate)
fi
upstream=${cand#*:}
upstream=${upstream%%-*}
if [[ $upstream != "$want" ]]; then
	echo "redis.sh: apt's redis-tools is $cand, not Redis $want: update REDIS_VERSION in the Makefile (and check the quota tests) or set REDIS_SERVER" >&2
	exit 1
fi

mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "redis.sh: downloading ${pkgs[*]} (redis-tools $cand) into $dir"
# apt-get download as root warns that its _apt user cannot write here.
(cd "$tmp" && apt-get download -qq "${pkgs[@]/redis-tools/redis-tools=$cand}" 2>&1 | grep -v 'unsandboxed as root' || true)
shopt -s nullglob
debs=("$tmp"/*.deb)
if ((${#debs[@]} != ${#pkgs[@]})); then
	echo "redis.sh: apt-get download fetched ${#debs[@]} of ${#pkgs[@]} packages" >&2
	exit 1
fi
for deb in "${debs[@]}"; do
	dpkg-deb -x "$deb" "$tmp/root"
	mkdir -p "$tmp/debs" && mv "$deb" "$tmp/debs/"
done
# redis-tools ships the server as redis-check-rdb, which runs as the server
# when its name is not redis-check-*; the redis-server package only adds the
# symlink this makes.
ln -s redis-check-rdb "$tmp/root/usr/bin/redis-server"

rm -rf "$dir"
mkdir -p "$dir/bin"
mv "$tmp/root" "$dir/root"
abs=$(cd "$dir" && pwd)
libs=
for d in "$abs"/root/usr/lib/*-linux-gnu "$abs"/root/lib/*-linux-gnu; do
	libs=${libs:+$libs:}$d
done
cat >"$dir/bin/redis-server" <<WRAPPER
#!/bin/sh
# Redis $want from Debian's redis-tools $cand, unpacked by scripts/redis.sh
# (no package installed, no service). Runs the server with the unpacked
# libraries.
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$abs/root/usr/bin/redis-server" "\$@"
WRAPPER
chmod +x "$dir/bin/redis-server"
if missing=$(LD_LIBRARY_PATH=$libs ldd "$abs/root/usr/bin/redis-check-rdb" | grep 'not found'); then
	echo "redis.sh: the server needs libraries this system lacks:" >&2
	echo "$missing" >&2
	exit 1
fi
"$dir/bin/redis-server" --version
