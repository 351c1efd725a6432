#!/bin/sh
set -eu
grep -q "Deployed with Slipway" /tmp/slipway-sample/www/index.html
test "$(cat /tmp/slipway-sample/running)" = "$DEPLOYMENT_ID"
echo "service is up: $(cat /tmp/slipway-sample/version)"
