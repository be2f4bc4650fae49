#!/usr/bin/env bash
# Build the minimal Debian base image that Intuition's images start FROM, without pulling anything.
#   scripts/build-base-image.sh            build intuition-base:<suite> unless Docker already has it
#   scripts/build-base-image.sh --force    build it again and retag
#   scripts/build-base-image.sh --print    print the tag and exit
# mmdebstrap makes a minbase root filesystem of the host's Debian release from the host's own apt
# sources (the only archive reachable), and `docker import` turns it into an image. Run as root.
set -euo pipefail

force=0
print=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print) print=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-base-image: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[base-image] %s\n' "$*"; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=/dev/null
. /etc/os-release
suite=${VERSION_CODENAME:-}
[ -n "$suite" ] || die "cannot tell the Debian release from /etc/os-release (VERSION_CODENAME)"
tag=intuition-base:$suite
if [ $print = 1 ]; then echo "$tag"; exit 0; fi

[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap builds the root filesystem with chroot"
command -v docker >/dev/null || die "docker is not installed"
if [ $force = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag already exists (--force rebuilds it)"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null; then
  say "installing mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

# The host's Debian sources: deb822 (Debian 12's layout) or the classic one-line list
sources=()
for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  [ -s "$file" ] && grep -qE '^[[:space:]]*(deb|Types:)' "$file" && sources+=("$file")
done
[ ${#sources[@]} -gt 0 ] || die "no Debian apt sources found in /etc/apt/sources.list{,.d/debian.sources}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "building a $suite minbase root filesystem from ${sources[*]} (about a minute)"
# No recommends and no docs, as in Debian's official images; apt's lists are dropped by mmdebstrap
mmdebstrap --quiet --variant=minbase \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$suite" "$work/rootfs.tar" "${sources[@]}"
docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
  --message "Debian $suite minbase from mmdebstrap (scripts/build-base-image.sh)" \
  "$work/rootfs.tar" "$tag" >/dev/null
say "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))"
