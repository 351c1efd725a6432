#!/bin/sh
set -eu
# SLIPWAY_INSTALL_PREFIX is set when several agents share one machine (the quickstart).
APP="${SLIPWAY_INSTALL_PREFIX:-}/tmp/slipway-sample"
echo "installing $APPLICATION_NAME ($DEPLOYMENT_GROUP_NAME), deployment $DEPLOYMENT_ID, into $APP"
mkdir -p "$APP"
