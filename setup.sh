#!/usr/bin/env bash
# Sets up a Debian 12 machine for mw-tui and then runs it or its tests.
#   ./setup.sh demo   install everything, then start the kiosk on its embedded demo archive
#   ./setup.sh test   install everything, then run ruff, import-linter, mypy and the whole test suite
#   ./setup.sh deps   install everything and stop
# Needs root (or sudo) the first time, to install the Debian packages listed in
# debian-packages.txt; Python packages go into ./.venv from pyproject.toml, at the versions
# of constraints.txt (what CI tested).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
mode="${1:-}"
case "$mode" in demo|test|deps) shift ;; *)
  echo "usage: ./setup.sh demo|test|deps [extra arguments]" >&2; exit 2 ;;
esac

packages=$(grep -Ev '^\s*(#|$)' debian-packages.txt | tr '\n' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  # Orthanc's package starts a system service; the station does not use it.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d; policy_added=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d
fi

py=${PYTHON:-python3}
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv (versions pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'
  touch "$stamp"
fi

case "$mode" in
  deps) echo "setup: done" ;;
  demo) exec .venv/bin/mw-tui --demo "$@" ;;
  test)
    # (the venv's bin is not put on PATH: pynetdicom's own storescu, findscu... would hide
    # dcmtk's, which the tests talk to)
    echo "== ruff"; .venv/bin/ruff check mw_tui tests bench tools
    echo "== import-linter"; .venv/bin/lint-imports --no-cache
    echo "== mypy"; .venv/bin/mypy
    echo "== pytest"; exec .venv/bin/pytest "$@" ;;
esac
