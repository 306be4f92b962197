#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package when either is missing.
#
# Idempotent: does nothing when both are on PATH. Runs `apt-get update` once before installing,
# never starts the packaged service (tests start their own server on a loopback port), and
# prints the two paths on stdout. Needs root (or sudo) and a Debian/Ubuntu apt source.
set -euo pipefail

log() { echo "[install-prometheus] $*" >&2; }

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  log "already installed: $(prometheus --version 2>&1 | head -n1)"
  command -v prometheus
  command -v promtool
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: install Prometheus (with promtool) from https://prometheus.io/download/"
  exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "need root (or sudo) to apt-get install prometheus"
    exit 2
  fi
fi

# A policy-rc.d that forbids service starts: the package's postinst must not launch a server
# on :9090 behind our back (harmless where there is no init system, important where there is).
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  CREATED_POLICY=1
fi
cleanup() { if [ "$CREATED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

log "apt-get update"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
log "apt-get install prometheus"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2

for bin in prometheus promtool; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    log "$bin still missing after installing the prometheus package"
    exit 1
  fi
done
log "installed: $(prometheus --version 2>&1 | head -n1)"
command -v prometheus
command -v promtool
