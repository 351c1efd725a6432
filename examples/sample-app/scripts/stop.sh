#!/bin/sh
# Runs from the previously installed revision: stop what it started.
set -eu
# SLIPWAY_INSTALL_PREFIX is set when several agents share one machine (the quickstart).
APP="${SLIPWAY_INSTALL_PREFIX:-}/tmp/slipway-sample"
echo "stopping deployment before $DEPLOYMENT_ID on $(hostname)"
rm -f "$APP/running"
