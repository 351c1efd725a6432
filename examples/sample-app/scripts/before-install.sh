#!/bin/sh
set -eu
echo "installing $APPLICATION_NAME ($DEPLOYMENT_GROUP_NAME), deployment $DEPLOYMENT_ID"
mkdir -p /tmp/slipway-sample
