#!/usr/bin/env bash
# Install the agent as a systemd service from this checkout, enable it and start it. Run as root.
#   scripts/install-systemd.sh    the package in /opt/intuition/venv, the unit in /etc/systemd/system,
#                                 a default /etc/intuition/config.yaml (kept if present); logs: journalctl -u intuition
#                                 Before the unit, `intuition doctor`: checks the host, compiles the probes into the cache
# Re-running it upgrades the package and the unit and restarts the service.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-systemd: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
say() { printf '[install-systemd] %s\n' "$*"; }

# BCC, kernel headers, tracefs and Vizceral's bundle (which the package carries)
bash "$here/scripts/setup.sh"
venv=/opt/intuition/venv
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv (system site packages, for Debian's bcc)"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
say "installing the package into $venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$here"
# The host checked before the service is, and the probes compiled now, not at the service's first start: doctor
# loads them with the default settings into the program cache the unit uses (README, "Configuration")
say "checking this host and compiling the probes into /var/cache/intuition (intuition doctor)"
if ! "$venv/bin/intuition" doctor; then
  say "the agent cannot run on this host: fix what doctor names above, then run this script again"
  exit 1
fi
install -D -m 0644 "$here/deploy/systemd/intuition.service" /etc/systemd/system/intuition.service
if [ ! -e /etc/intuition/config.yaml ]; then
  install -d -m 0755 /etc/intuition
  printf '# Intuition agent: every key is optional (README, "Configuration")\nlisten: 127.0.0.1:9470\n' \
    > /etc/intuition/config.yaml
  chmod 0600 /etc/intuition/config.yaml  # it may hold the auth password or token
  say "wrote /etc/intuition/config.yaml"
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable intuition.service
  systemctl restart intuition.service
  say "intuition.service is enabled and started: systemctl status intuition; journalctl -u intuition"
else
  say "systemd is not running on this host (not PID 1): the unit is installed but not started"
fi
