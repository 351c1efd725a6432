#!/bin/sh
set -eu
# SLIPWAY_INSTALL_PREFIX is set when several agents share one machine (the quickstart).
APP="${SLIPWAY_INSTALL_PREFIX:-}/tmp/slipway-sample"
echo "$DEPLOYMENT_ID" > "$APP/version"
echo "installed files:"; ls -l "$APP/www"
