#!/usr/bin/env bash
# Idempotent setup for Intuition on a Debian host, run as root.
#   scripts/setup.sh          what the agent needs: BCC, kernel headers, tracefs, the virtualenv, Vizceral
#   scripts/setup.sh --test   also the real servers, Docker and browser the tests drive
#   scripts/setup.sh --bench  also matplotlib, for benchmarks/report.py's plots (with --test: both)
# Re-running it changes nothing; every step says what it did.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
with_test=0
with_bench=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    --bench) with_bench=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say()  { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: BCC loads kernel programs and apt installs packages"
command -v apt-get >/dev/null || die "this setup script supports Debian-based hosts (apt-get not found)"

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated = 0 ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- BCC from Debian (the PyPI package named "bcc" is an unrelated project) -----------------------
apt_install python3-bpfcc python3-venv python3-pip ca-certificates
# npm installs Vizceral; keep a Node.js the host already has rather than replacing it
command -v npm >/dev/null || apt_install nodejs npm

# --- kernel headers for BCC's compiler ----------------------------------------------------------
release=$(uname -r)
moddir=/lib/modules/$release
if [ -e "$moddir/build/include/linux/kconfig.h" ] || [ -e "$moddir/source/include/linux/kconfig.h" ]; then
  say "kernel headers: $(readlink -f "$moddir/build") (already in place)"
else
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  if apt-cache show "linux-headers-$release" >/dev/null 2>&1; then
    apt_install "linux-headers-$release"
  else
    # No headers are packaged for this kernel. BCC only needs a tree to compile against: Intuition reads
    # every kernel struct field beyond sock_common through offsets taken from this kernel's BTF, so the
    # header layout does not matter. Debian's 6.1 headers work with BCC 0.26 (6.12 ones do not).
    pkg=$(apt-cache search --names-only '^linux-headers-6\.1\.[0-9.-]*-cloud-amd64$' | awk '{print $1}' | sort -V | tail -n1)
    [ -n "$pkg" ] || die "no linux-headers-$release and no linux-headers-6.1.*-cloud-amd64 in apt; install headers for this kernel"
    apt_install "$pkg"
    tree=/usr/src/${pkg}
    common=/usr/src/${pkg%-cloud-amd64}-common
    mkdir -p "$moddir"
    ln -sfn "$tree" "$moddir/build"
    ln -sfn "$common" "$moddir/source"
    warn "no headers are packaged for kernel $release; linked $moddir/build -> $tree and"
    warn "$moddir/source -> $common. This is safe: Intuition reads struct offsets from the running"
    warn "kernel's BTF (/sys/kernel/btf/vmlinux) and uses the headers only to let BCC compile."
  fi
fi

# --- tracefs: BCC attaches tracepoints through it ------------------------------------------------
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
  say "mounted tracefs on /sys/kernel/tracing"
fi

# --- the virtualenv: Debian's python so that Debian's bcc imports ---------------------------------
venv=$here/.venv
if [ ! -x "$venv/bin/python" ]; then
  say "creating virtualenv $venv (system site packages, for Debian's bcc)"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
wanted=()
[ $with_test = 1 ] && wanted+=(test)
[ $with_bench = 1 ] && wanted+=(bench)
extras=$(IFS=,; [ ${#wanted[@]} = 0 ] || echo "[${wanted[*]}]")
stamp=$venv/.installed$extras
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
  say "installing Python dependencies into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -e "$here$extras"
  touch "$stamp"
fi

# --- Vizceral from the npm registry, pinned by the lockfile ---------------------------------------
if [ ! -f "$here/dashboard/node_modules/vizceral/dist/vizceral.min.js" ] \
   || [ "$here/dashboard/package-lock.json" -nt "$here/dashboard/node_modules/.package-lock.json" ]; then
  say "installing Vizceral (npm ci in dashboard/)"
  (cd "$here/dashboard" && npm ci --silent --no-audit --no-fund)
fi

[ $with_test = 1 ] || { say "ready"; exit 0; }

# --- what the tests drive for real --------------------------------------------------------------
apt_install docker.io containerd runc redis-server postgresql postgresql-contrib mariadb-server mariadb-client \
  nginx-light prometheus victoria-metrics \
  chromium chromium-driver wrk nftables iproute2 curl busybox-static bpftool \
  mmdebstrap systemd `# the image tests build a Debian base; the systemd test runs systemd-analyze` \
  nghttp2-client `# h2load: HTTP/2 streams at once over one connection` \
  linux-perf  # benchmarks/perf_parts.py samples where the probes spend their time
say "ready for tests"
