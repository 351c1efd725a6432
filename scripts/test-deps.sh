#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: setfacl/getfacl, HAProxy (the
# traffic router's tests start a real one), Prometheus (the alarm tests query a real server), the
# Unix users the runas and chown tests use, and the act runner the Action's end-to-end test runs
# under.
# Idempotent. As non-root outside CI it only reports what is missing (those tests then skip);
# under CI=true anything missing is a failure.
set -euo pipefail

# act runs GitHub workflows locally (e2e/act_test.go); `go install` needs no root.
act_module=github.com/nektos/act@v0.2.89
if ! command -v act >/dev/null && [ ! -x "$(go env GOPATH)/bin/act" ]; then
  if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = "true" ]; then
    echo "test-deps: go install $act_module"
    go install "$act_module"
  else
    echo "test-deps: act is missing (go install $act_module): the act test will skip" >&2
  fi
fi

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
