#!/usr/bin/env bash
# Installs what the stack and the tests need on a fresh Debian machine; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
# javac: the CloudEvents Java SDK's reader (tests/e2e/test_cloudevents_java.py) is compiled here.
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The invitation page's browser test (tests/e2e/test_invitation_page_browser.py): Debian's Chromium.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# promtool, Prometheus's own checker, for the alert rules and the dashboard's queries (tests/deploy).
command -v promtool >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Every third-party package from the hashed lock (scripts/lock.py writes it from the pins): a file
# whose SHA-256 is not in the lock is refused. Then the repository's own packages, built with the
# locked setuptools, their dependencies all there already; pip check says if the lock is short.
.venv/bin/python -m pip install -q --require-hashes -r requirements/dev.lock
.venv/bin/python -m pip install -q --no-deps --no-build-isolation \
  -e libs/contracts -e libs/runtime -e tools/cli -e tools/devstack -e tools/testing \
  -e services/identity -e services/seats -e services/notifications -e services/routing
.venv/bin/python -m pip check
echo "python environment ready in .venv"
