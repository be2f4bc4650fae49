#!/usr/bin/env bash
# Set up (idempotent) and run every test: sudo scripts/test.sh [pytest options]
# Unit tests run first (no root needed); then the tests that drive the real kernel, Docker, servers and
# Chromium. With INTUITION_REQUIRE_KERNEL=1 (CI) a test that cannot reach those fails instead of skipping.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/setup.sh" --test
cd "$here"
echo "[test] unit tests"
.venv/bin/pytest -q tests/unit "$@"
# the kernel tests first and alone: no agent of a later test keeps its own probes attached meanwhile
echo "[test] kernel tests"
.venv/bin/pytest -q tests/kernel "$@"
echo "[test] system tests (Docker, servers, Prometheus, browser)"
.venv/bin/pytest -q --ignore=tests/unit --ignore=tests/kernel --ignore=tests/soak "$@"
# last and alone: ten minutes of steady traffic whose memory and map sizes nothing else may disturb
echo "[test] soak (10 minutes)"
.venv/bin/pytest -q tests/soak "$@"
