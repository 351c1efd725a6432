#!/bin/sh
set -eu
# SLIPWAY_INSTALL_PREFIX is set when several agents share one machine (the quickstart).
APP="${SLIPWAY_INSTALL_PREFIX:-}/tmp/slipway-sample"
grep -q "Deployed with Slipway" "$APP/www/index.html"
test "$(cat "$APP/running")" = "$DEPLOYMENT_ID"
echo "service is up: $(cat "$APP/version")"
