#!/usr/bin/env bash
# Slipway's main job in half a minute, on this machine, with nothing to install but Go:
# a server on the embedded defaults (SQLite, bundles on disk), three agents in temporary
# directories, a deployment of examples/sample-app one host at a time, then a broken revision
# that fails and is rolled back automatically. Everything lives in a temporary directory that is
# removed at the end (set KEEP=1 to keep it).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-quickstart.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

say "building slipway, slipway-agent and slipway-server"
mkdir -p "$work/bin"
go build -o "$work/bin/slipway" ./action
go build -o "$work/bin/slipway-agent" ./agent
go build -o "$work/bin/slipway-server" ./server
export PATH="$work/bin:$PATH"
start=$SECONDS

say "starting slipway-server (data in $work/server)"
export SLIPWAY_ADMIN_TOKEN=$(token) SLIPWAY_ENROLL_TOKEN=$(token)
slipway-server --listen 127.0.0.1:0 --data-dir "$work/server" >"$work/server.out" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
export SLIPWAY_SERVER=$(sed -n 's/^listening on //p' "$work/server.out")
export SLIPWAY_TOKEN=$SLIPWAY_ADMIN_TOKEN
[ -n "$SLIPWAY_SERVER" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
echo "server at $SLIPWAY_SERVER"

say "starting three agents tagged role=web"
for i in 1 2 3; do
  # --install-prefix keeps the three hosts' files apart on this one machine.
  slipway-agent run --name "web-$i" --tag role=web --root "$work/agent-$i" \
    --install-prefix "$work/host-$i" 2>"$work/agent-$i.log" &
  pids+=($!)
done
for _ in $(seq 100); do
  [ "$(slipway instance list --json | grep -c '"name"')" -ge 3 ] && break; sleep 0.1
done
slipway instance list

say "creating application 'sample' and group 'web' (one host at a time, automatic rollback)"
slipway app create sample >/dev/null
slipway group create sample web --tag role=web --config CodeDeployDefault.OneAtATime --auto-rollback >/dev/null

say "deploying examples/sample-app"
slipway deploy --app sample --group web --bundle examples/sample-app --wait
echo "host web-1 now serves: $(cat "$work/host-1/tmp/slipway-sample/www/index.html" | tail -1)"

say "deploying a broken revision: its ValidateService exits 1"
cp -R examples/sample-app "$work/broken"
printf '#!/bin/sh\necho "health check: connection refused on port 8080" >&2\nexit 1\n' >"$work/broken/scripts/validate.sh"
if failed=$(slipway deploy --app sample --group web --bundle "$work/broken" --wait); then
  echo "the broken revision succeeded, which it should not"; exit 1
fi
rollback=$(slipway deployment get "$failed" --json | sed -n 's/.*"rolled_back_by": "\(.*\)".*/\1/p')
[ -n "$rollback" ] || { echo "no automatic rollback was started"; exit 1; }

say "following the automatic rollback $rollback"
slipway deployment wait "$rollback"
slipway deployment list --app sample

say "done: $((SECONDS - start))s after the build"
