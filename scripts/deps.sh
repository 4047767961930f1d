#!/usr/bin/env bash
# Installs what Reel's demo and tests need when it is missing: ffmpeg,
# redis-server and docker-compose (for validating docker-compose.yml) from
# Debian's packages, and MinIO with `go install` at a pinned version.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

pkgs=()
command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v docker-compose >/dev/null || pkgs+=(docker-compose)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "deps: installing ${pkgs[*]} with apt-get"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# redis-server from Debian starts a system service; Reel starts its own.

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
stamp="$gobin/.minio-$MINIO_VERSION"
if ! [ -x "$gobin/minio" ] || ! [ -e "$stamp" ]; then
  echo "deps: building MinIO $MINIO_VERSION with go install (a few minutes, once)"
  (cd / && GOFLAGS= go install "github.com/minio/minio@$MINIO_VERSION")
  touch "$stamp"
fi
