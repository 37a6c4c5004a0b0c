#!/usr/bin/env bash
# Runs before `npm test`: the suite needs Debian's libwbxml2-utils (the codec's independent oracle),
# openssl (TLS test certificates) and a PostgreSQL server on 127.0.0.1:5432 with trust auth (every
# state test runs on SQLite and on PostgreSQL). As root it installs and starts what is missing;
# otherwise it says what to do.
set -euo pipefail

packages=(libwbxml2-utils openssl postgresql)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  if ((EUID != 0)); then
    echo "the tests need these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *' postgresql '* ]]; then
    # A cluster made just now for the tests: let local TCP connections in without a password.
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
fi

if [ -n "${AIRSYNC_TEST_POSTGRES:-}" ]; then exit 0; fi
if ! pg_isready -q -h 127.0.0.1; then
  if ((EUID != 0)); then
    echo 'the tests need PostgreSQL on 127.0.0.1:5432 with trust auth, or AIRSYNC_TEST_POSTGRES=postgres://…' >&2
    exit 1
  fi
  echo 'starting PostgreSQL'
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
  pg_isready -h 127.0.0.1
fi
