#!/usr/bin/env bash
# Install the Debian packages the project needs, once. Debian 12 (bookworm) fixes their versions;
# PostgreSQL is pinned to major version 15.
set -euo pipefail
# `run`: what serving needs (the CJK fonts certificates embed); `test`: that and the test tools
# (redis-server: the end-to-end test of a real set-up, tests/test_setup_e2e.py, runs the Redis
# server a production machine runs).
packages=(fonts-arphic-uming fonts-noto-cjk)
if [ "${1:-test}" != run ]; then
  packages+=(chromium postgresql-15 redis-server)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
