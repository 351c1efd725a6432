#!/bin/sh
set -eu
echo "$DEPLOYMENT_ID" > /tmp/slipway-sample/running
echo "started"
