#!/bin/sh
set -eu
echo "$DEPLOYMENT_ID" > /tmp/slipway-sample/version
echo "installed files:"; ls -l /tmp/slipway-sample/www
