#!/usr/bin/env bash
# `make images`: the images docker-compose.yml and the container fixtures run.
#
# The project's own images are always built from this tree: crm-platform/service (the four
# services) and crm-platform/tools (the init job and the development mail server). Kafka,
# PostgreSQL and the Python base are the official images (apache/kafka, postgres, python) when a
# registry answers; on a machine without one (CRM_IMAGES_FROM=debian, or a pull that fails) they are
# built from Debian's packages under the project's own names, Kafka from the same Maven Central jars
# `make up` runs. The names chosen go to .run/images.env, which `make compose-up` and the fixtures
# read; variables already set in the environment win.
set -euo pipefail
cd "$(dirname "$0")/.."

# podman where it is installed (the docker CLI may be talking to podman's socket, and podman's own
# CLI builds and imports without the compatibility layer); else Docker; CONTAINER_ENGINE decides.
if [ -n "${CONTAINER_ENGINE:-}" ]; then ENGINE=$CONTAINER_ENGINE
elif command -v podman >/dev/null; then ENGINE=podman
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
else echo "no container engine: install Docker, or run scripts/container-engine.sh (podman)" >&2; exit 1
fi
BUILD=("$ENGINE" build --network host)
[ "$ENGINE" = podman ] && BUILD+=(--format docker)   # keeps HEALTHCHECK (OCI images drop it)

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' infra/kafka/pom.xml)
OFFICIAL_PYTHON=python:3.11-slim
OFFICIAL_KAFKA=apache/kafka:$KAFKA_VERSION
OFFICIAL_POSTGRES=postgres:15
FROM=${CRM_IMAGES_FROM:-auto}

if [ "$FROM" = auto ]; then
  FROM=registry
  for image in "$OFFICIAL_PYTHON" "$OFFICIAL_KAFKA" "$OFFICIAL_POSTGRES"; do
    "$ENGINE" image inspect "$image" >/dev/null 2>&1 && continue
    echo "pulling $image"
    if ! timeout 600 "$ENGINE" pull -q "$image" >/dev/null 2>&1; then
      echo "no registry answers for $image: building the bases from Debian's packages"
      FROM=debian; break
    fi
  done
fi

# A base image from Debian's packages: mmdebstrap writes a root file system, the engine imports it.
debian_base() {  # name, packages, [extra mmdebstrap options...]
  local name=$1 packages=$2; shift 2
  if [ -z "${CRM_IMAGES_REBUILD:-}" ] && "$ENGINE" image inspect "$name" >/dev/null 2>&1; then
    echo "$name already built"; return
  fi
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: scripts/container-engine.sh installs it" >&2; exit 1; }
  local tar; tar=$(mktemp --suffix=.tar)
  echo "building $name from Debian bookworm ($packages)"
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' "$@" bookworm "$tar"
  "$ENGINE" import --change 'CMD ["/bin/bash"]' "$tar" "$name" >/dev/null
  rm -f "$tar"
}

if [ "$FROM" = debian ]; then
  PYTHON_IMAGE=localhost/crm-platform/python:3.11-bookworm
  KAFKA_IMAGE=localhost/crm-platform/kafka:$KAFKA_VERSION
  POSTGRES_IMAGE=localhost/crm-platform/postgres:15
  debian_base "$PYTHON_IMAGE" python3,python3-venv,ca-certificates
  debian_base localhost/crm-platform/jre:17-bookworm openjdk-17-jre-headless
  debian_base localhost/crm-platform/postgresql-base:15-bookworm postgresql-15,postgresql-client-15 \
    --essential-hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"'

  # Kafka: the jars of infra/kafka/pom.xml, fetched once into the run folder as `make up` does.
  LIBS=.run/kafka-libs
  .venv/bin/python -m crm_devstack.stack.kafka_jars "$PWD/$LIBS"
  CONTEXT=.run/images/kafka
  rm -rf "$CONTEXT"; mkdir -p "$CONTEXT"
  cp -r $LIBS "$CONTEXT/libs"
  cp infra/images/kafka/Dockerfile infra/images/kafka/run.sh infra/images/kafka/kafka-topics.sh infra/kafka/log4j2.properties "$CONTEXT/"
  echo "building $KAFKA_IMAGE"
  "${BUILD[@]}" -q --build-arg BASE_IMAGE=localhost/crm-platform/jre:17-bookworm -t "$KAFKA_IMAGE" "$CONTEXT" >/dev/null
  echo "building $POSTGRES_IMAGE"
  "${BUILD[@]}" -q --build-arg BASE_IMAGE=localhost/crm-platform/postgresql-base:15-bookworm -t "$POSTGRES_IMAGE" infra/images/postgres >/dev/null
else
  PYTHON_IMAGE=$OFFICIAL_PYTHON KAFKA_IMAGE=$OFFICIAL_KAFKA POSTGRES_IMAGE=$OFFICIAL_POSTGRES
fi
PYTHON_IMAGE=${CRM_PYTHON_IMAGE:-$PYTHON_IMAGE}

# Extra CA certificates for the builder stage (a TLS proxy on the way to PyPI).
for cert in ${EXTRA_CA_CERTS:-/usr/local/share/ca-certificates/*.crt}; do
  [ -f "$cert" ] && cp "$cert" infra/images/ca-certificates/
done
for target in service tools; do
  echo "building crm-platform/$target on $PYTHON_IMAGE"
  "${BUILD[@]}" -q --build-arg BASE_IMAGE="$PYTHON_IMAGE" --target "$target" -t "localhost/crm-platform/$target:latest" . >/dev/null
done

mkdir -p .run
cat > .run/images.env <<ENV
CONTAINER_ENGINE=$ENGINE
CRM_PYTHON_IMAGE=$PYTHON_IMAGE
CRM_KAFKA_IMAGE=${CRM_KAFKA_IMAGE:-$KAFKA_IMAGE}
CRM_POSTGRES_IMAGE=${CRM_POSTGRES_IMAGE:-$POSTGRES_IMAGE}
CRM_SERVICE_IMAGE=localhost/crm-platform/service:latest
CRM_TOOLS_IMAGE=localhost/crm-platform/tools:latest
ENV
echo "images ready (.run/images.env):"; sed 's/^/  /' .run/images.env
