#!/bin/sh
# Runs from the previously installed revision: stop what it started.
set -eu
echo "stopping deployment before $DEPLOYMENT_ID on $(hostname)"
rm -f /tmp/slipway-sample/running
