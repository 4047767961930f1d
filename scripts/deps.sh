#!/usr/bin/env bash
# Installs what Reel's demo and tests need when it is missing: ffmpeg,
# redis-server, memcached, mariadb-server (the accounts store's tests), util-linux's prlimit (which bounds every ffmpeg run; part of
# every Debian install), docker-compose (for validating docker-compose.yml), chromium
# and nodejs/npm (for the player tests) from Debian's packages, MinIO with
# `go install` at a pinned version, and the pinned hls.js and dash.js with
# `npm ci` in player/.
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

pkgs=()
command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v docker-compose >/dev/null || pkgs+=(docker-compose)
command -v chromium >/dev/null || pkgs+=(chromium)
command -v npm >/dev/null || pkgs+=(nodejs npm)
command -v prlimit >/dev/null || pkgs+=(util-linux)
command -v memcached >/dev/null || pkgs+=(memcached)
{ command -v mariadbd || [ -x /usr/sbin/mariadbd ]; } >/dev/null || pkgs+=(mariadb-server)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "deps: installing ${pkgs[*]} with apt-get"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# redis-server, memcached and mariadb-server from Debian start system
# services; Reel starts its own.

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
stamp="$gobin/.minio-$MINIO_VERSION"
if ! [ -x "$gobin/minio" ] || ! [ -e "$stamp" ]; then
  echo "deps: building MinIO $MINIO_VERSION with go install (a few minutes, once)"
  (cd / && GOFLAGS= go install "github.com/minio/minio@$MINIO_VERSION")
  touch "$stamp"
fi

# hls.js and dash.js at the versions player/package-lock.json pins.
lockstamp="player/node_modules/.lock-$(sha256sum player/package-lock.json | cut -c1-16)"
if ! [ -e "$lockstamp" ]; then
  echo "deps: installing the player test packages with npm ci"
  (cd player && npm ci --no-audit --no-fund --loglevel=error)
  touch "$lockstamp"
fi
