#!/usr/bin/env bash
# Build the agent's container image from this checkout, offline.
#   scripts/build-image.sh           build intuition:latest (and intuition:<version>); Docker's layer cache
#                                    makes a rebuild with unchanged inputs take seconds
#   scripts/build-image.sh --print   print the tag and exit
# It builds the Debian base first when missing (scripts/build-base-image.sh). Run as root, after
# scripts/setup.sh (the image takes Vizceral's bundle from dashboard/node_modules, and .venv's pip fetches
# the dependencies' wheels into build/image/).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tag=intuition:latest
case "${1:-}" in
  "") ;;
  --print) echo "$tag"; exit 0 ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-image: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

say() { printf '[image] %s\n' "$*"; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

[ -s "$here/dashboard/node_modules/vizceral/dist/vizceral.min.js" ] && [ -x "$here/.venv/bin/pip" ] \
  || die "run scripts/setup.sh first: the image takes Vizceral's bundle from dashboard/node_modules and the
wheels come through .venv's pip"
"$here/scripts/build-base-image.sh"
base=$("$here/scripts/build-base-image.sh" --print)

# The wheels of the dependencies (and of the build backend) for the image's Python, which is the host's
context=$here/build/image
mkdir -p "$context/wheels"
"$here/.venv/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(sys.stdin.buffer)["project"]["dependencies"]))' \
  < "$here/pyproject.toml" > "$context/requirements.txt"
say "downloading the Python dependencies into build/image/wheels"
if ! log=$("$here/.venv/bin/pip" download -q --disable-pip-version-check --dest "$context/wheels" \
            -r "$context/requirements.txt" "setuptools>=64" wheel 2>&1); then
  printf '%s\n' "$log" >&2
  die "pip could not download the dependencies"
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/pyproject.toml")
say "building $tag (and intuition:$version) on $base"
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" --tag "$tag" --tag "intuition:$version" "$here" >/dev/null
say "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))"
