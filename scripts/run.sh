#!/usr/bin/env bash
# Set up (idempotent) and run the agent with its dashboard: sudo scripts/run.sh [intuition run options]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/setup.sh"
exec "$here/.venv/bin/intuition" run "$@"
