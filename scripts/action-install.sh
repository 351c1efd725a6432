#!/usr/bin/env bash
# Puts the slipway binary the Slipway Action runs on the runner and sets the step output "path".
# Run by action.yml; fastest way first:
#
# 1. The action used at a release tag (uses: slipway-deploy/slipway@vX.Y.Z): the release binary
#    for this runner, checked against the sha256 in action/release.sha256 of the action's own
#    checkout. The sums are committed in the tagged tree, so the download is checked against the
#    ref the workflow pinned, not against a file fetched next to it. Cached in RUNNER_TOOL_CACHE.
# 2. Anything else (uses: ./, a branch, a commit, or a tag without sums): `go build` from the
#    action's checkout, cached by a hash of the sources, so later runs on the runner start at once.
#
# SLIPWAY_RELEASE_URL overrides where releases are downloaded from (a mirror, or a test server).
set -euo pipefail

started=$(date +%s%N)
action_dir=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this from action.yml}
ref=${SLIPWAY_ACTION_REF:-}
cache_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/slipway
release_url=${SLIPWAY_RELEASE_URL:-https://github.com/slipway-deploy/slipway/releases/download}

case "${RUNNER_OS:-$(uname -s)}" in
  Linux) os=linux ;;
  macOS | Darwin) os=darwin ;;
  *) echo "::error title=Slipway::runner OS ${RUNNER_OS:-$(uname -s)} is not supported (Linux and macOS are)"; exit 1 ;;
esac
case "${RUNNER_ARCH:-$(uname -m)}" in
  X64 | x86_64 | amd64) arch=amd64 ;;
  ARM64 | aarch64 | arm64) arch=arm64 ;;
  *) echo "::error title=Slipway::runner architecture ${RUNNER_ARCH:-$(uname -m)} is not supported (X64 and ARM64 are)"; exit 1 ;;
esac
name="slipway_${os}_${arch}"

if command -v sha256sum >/dev/null; then sha256=(sha256sum); else sha256=(shasum -a 256); fi

ready() { # path, how
  echo "path=$1" >>"$GITHUB_OUTPUT"
  local ms=$((($(date +%s%N) - started) / 1000000))
  echo "slipway ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s ($2): $1"
}

# install moves a finished file into place atomically, so a concurrent job never runs half a binary.
install_bin() { # tmp, dest
  mkdir -p "$(dirname "$2")"
  chmod 0755 "$1"
  mv -f "$1" "$2"
}

if [[ $ref =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  want=""
  if [ -f "$action_dir/action/release.sha256" ]; then
    want=$(awk -v f="$ref/$name" '$2 == f { print $1 }' "$action_dir/action/release.sha256")
  fi
  if [ -n "$want" ]; then
    dest="$cache_root/$ref/$name/slipway"
    if [ -x "$dest" ] && [ "$("${sha256[@]}" "$dest" | cut -d' ' -f1)" = "$want" ]; then
      ready "$dest" "release $ref, cached"
      exit 0
    fi
    tmp=$(mktemp "${TMPDIR:-/tmp}/slipway.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    if ! curl -fsSL --retry 3 --connect-timeout 10 --max-time 300 -o "$tmp" "$release_url/$ref/$name"; then
      echo "::error title=Slipway::could not download $release_url/$ref/$name"
      exit 1
    fi
    got=$("${sha256[@]}" "$tmp" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      echo "::error title=Slipway::$name of $ref has sha256 $got, but action/release.sha256 says $want: refusing to run it"
      exit 1
    fi
    install_bin "$tmp" "$dest"
    ready "$dest" "release $ref, downloaded"
    exit 0
  fi
  echo "no sha256 for $ref/$name in action/release.sha256: building from source"
fi

if ! command -v go >/dev/null; then
  echo "::error title=Slipway::Go is needed to build the action from source (ref '${ref:-local}'): add actions/setup-go before this step, or use a release tag"
  exit 1
fi
cd "$action_dir"
hash=$({
  printf '%s\n' go.mod go.sum
  find action internal -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go'
} | LC_ALL=C sort | xargs "${sha256[@]}" | "${sha256[@]}" | cut -c1-16)
dest="$cache_root/src-$hash/$name/slipway"
if [ -x "$dest" ]; then
  ready "$dest" "built from source $hash, cached"
  exit 0
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/slipway.XXXXXX")
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w -X main.version=src-$hash" -o "$tmp" ./action
install_bin "$tmp" "$dest"
ready "$dest" "built from source $hash"
