#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: setfacl/getfacl, HAProxy (the
# traffic router's tests start a real one), Prometheus (the alarm tests query a real server), the
# Unix users the runas and chown tests use, the act runner the Action's end-to-end test runs
# under, and versitygw (the S3-compatible server the S3 tests run against).
# Idempotent. As non-root outside CI it only reports what is missing (those tests then skip);
# under CI=true anything missing is a failure.
set -euo pipefail

gobin=$(go env GOBIN)
gobin=${gobin:-$(go env GOPATH | cut -d: -f1)/bin}

# go_tool NAME MODULE SKIPS installs a Go program the tests run, unless it is on PATH or in the
# go install directory already; `go install` needs no root.
go_tool() {
  local name=$1 module=$2 skips=$3
  if command -v "$name" >/dev/null || [ -x "$gobin/$name" ]; then
    return
  fi
  if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = "true" ]; then
    echo "test-deps: go install $module"
    local start=$SECONDS
    go install "$module"
    echo "test-deps: $name installed in $gobin in $((SECONDS - start)) s"
  else
    echo "test-deps: $name is missing (go install $module): $skips will skip" >&2
  fi
}

# act runs GitHub workflows locally (e2e/act_test.go).
go_tool act github.com/nektos/act@v0.2.89 "the act test"
# versitygw is built from source: about 4.5 min of CPU with a cold module cache, so 2-3 min on
# two idle cores.
go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0 "the S3 tests"

packages=(acl e2fsprogs haproxy prometheus)
users=(slipway-test:/bin/sh slipway-nologin:/usr/sbin/nologin)

missing_pkgs=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing_pkgs+=("$p")
done
missing_users=()
for u in "${users[@]}"; do
  getent passwd "${u%%:*}" >/dev/null || missing_users+=("$u")
done

if [ ${#missing_pkgs[@]} -eq 0 ] && [ ${#missing_users[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: missing packages: ${missing_pkgs[*]:-none}; missing users: ${missing_users[*]:-none}" >&2
  if [ "${CI:-}" = "true" ]; then
    echo "test-deps: CI=true and not root: cannot install them" >&2
    exit 1
  fi
  echo "test-deps: not root: the tests that need them will skip" >&2
  exit 0
fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  echo "test-deps: apt-get install ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  # On a machine with systemd the prometheus package starts a service on :9090; the tests start
  # their own servers on free ports and need none running.
  if [[ " ${missing_pkgs[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
for u in "${missing_users[@]}"; do
  name=${u%%:*} shell=${u#*:}
  echo "test-deps: useradd $name"
  useradd --create-home --shell "$shell" "$name"
done
