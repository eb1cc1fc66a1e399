#!/usr/bin/env bash
# A container engine for a Debian machine that has none: podman (rootful) with a Docker-compatible
# socket, podman-compose, and mmdebstrap for building base images without a registry. Safe to run
# again; it changes nothing on a machine where a Docker engine already answers.
#
# A user with Docker needs none of this: `make images compose-up` uses `docker compose`, and the
# testcontainers fixtures find the engine through DOCKER_HOST or the default socket.
#
# Afterwards, in any shell:  export DOCKER_HOST=unix:///run/podman/podman.sock
set -euo pipefail

SOCKET=/run/podman/podman.sock
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "a Docker engine answers; nothing to do"
  exit 0
fi

need=()
for pkg in podman runc mmdebstrap slirp4netns uidmap catatonit podman-compose \
           golang-github-containernetworking-plugin-dnsname; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# Names on a compose network (kafka, postgres, mail) need the CNI dnsname plugin.
# crun refuses this kind of machine ("cgroups in hybrid mode not supported"), and without systemd
# as PID 1 podman cannot use the systemd cgroup manager or journald: runc, cgroupfs, files.
# Containers get explicit ulimits within the machine's hard limits; raising them needs a
# capability a sandboxed machine lacks.
$SUDO mkdir -p /etc/containers
$SUDO tee /etc/containers/containers.conf >/dev/null <<'EOF'
# Written by scripts/container-engine.sh (crm-platform).
[containers]
default_ulimits = ["nofile=1024:4096", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# A registry is not needed: every image the project uses is built here (`make images`). Short
# names resolve to localhost first so FROM lines and compose never reach out for them.
$SUDO mkdir -p /etc/containers/registries.conf.d
$SUDO tee /etc/containers/registries.conf.d/50-crm-platform.conf >/dev/null <<'EOF'
unqualified-search-registries = ["localhost", "docker.io"]
short-name-mode = "permissive"
EOF

# The Docker-compatible API (docker CLI, testcontainers, docker compose) on a socket.
if ! curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
  $SUDO mkdir -p /run/podman
  # Left running for later commands; its PID is kept beside the socket (kill "$(cat /run/podman/service.pid)").
  nohup $SUDO podman system service --time=0 "unix://$SOCKET" >/tmp/podman-service.log 2>&1 &
  echo $! | $SUDO tee /run/podman/service.pid >/dev/null
  for _ in $(seq 1 50); do
    curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null || { echo "podman's API did not answer on $SOCKET" >&2; exit 1; }
echo "podman $(podman version --format '{{.Client.Version}}') answers on $SOCKET (export DOCKER_HOST=unix://$SOCKET)"
