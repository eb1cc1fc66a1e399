# The entry point for people and CI. `make up` then `make test`; `make down` stops it all.
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  := $(VENV)/bin/crm-stack
PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)

.PHONY: install up down restart chaos soak status logs demo bench test test-sasl test-cluster unit lint contracts contracts-check \
        images compose-up compose-down test-compose test-containers

# CRM_STACK=compose: `make demo` and `make test` use the containers of docker-compose.yml (after
# `make images compose-up`) instead of starting the local stack; CRM_STACK=containers: the tests
# start their own containers through testcontainers; CRM_STACK=local: the local stack, always.
# Unset, as conftest.py chooses: the compose stack while `make compose-up` has it running, else
# testcontainers when a Docker API answers, else the local stack.
ifeq ($(CRM_STACK),)
ifneq ($(wildcard .run/compose.active),)
export CRM_STACK := compose
else ifneq ($(shell docker info >/dev/null 2>&1 && echo yes),)
export CRM_STACK := containers
endif
endif
ifneq ($(filter compose containers,$(CRM_STACK)),)
STACK_UP := install
else
STACK_UP := up
endif

# `make up KAFKA_SASL=1`: the broker takes SASL/SCRAM logins and enforces ACLs, each service logs in
# as its own principal (a separate run folder, .run-sasl; `make down KAFKA_SASL=1` stops it).
ifdef KAFKA_SASL
export CRM_KAFKA_SASL := 1
endif

# `make up KAFKA_BROKERS=3`: a replicated Kafka cluster (three nodes on 9092-9094, every topic on three
# replicas, min.insync.replicas=2) in its own run folder, .run-cluster; `make down KAFKA_BROKERS=3` stops it.
ifdef KAFKA_BROKERS
export CRM_KAFKA_BROKERS := $(KAFKA_BROKERS)
endif

$(VENV)/.installed: scripts/bootstrap.sh requirements/dev.lock $(PYPROJECTS)
	bash scripts/bootstrap.sh
	touch $@

install: $(VENV)/.installed

up: install  ## start Kafka, PostgreSQL and the four services; returns when all are healthy
	$(STACK) up

down:  ## stop everything `make up` started
	@if [ -x $(STACK) ]; then $(STACK) down; fi

demo: $(STACK_UP)  ## the agent opt-in story on the live stack, as readable lines
	$(STACK) demo

bench: up  ## command-to-event latency and throughput on the live stack (prints medians)
	$(STACK) bench

status:
	$(STACK) status

chaos: up  ## faults under load (kill -9, replicas, broker and database restarts, poison) and the invariants checked
	$(STACK) chaos

soak: up  ## a steady mixed load for SOAK_MINUTES (20) sampled each minute; growth verdict and the promises of chaos
	$(STACK) soak

restart:  ## restart the four services (after a code change); `make restart S="identity seats"` for some
	$(STACK) restart $(S)

logs:
	$(STACK) logs

contracts: install  ## regenerate JSON Schema and AsyncAPI from libs/contracts, and record them as released unless a change breaks a topic version
	$(PY) -m crm_contracts.generate

contracts-check: install  ## fail on stale generated files or a breaking change to a released topic version
	$(PY) -m crm_contracts.generate --check

lint: install  ## ruff and mypy as pyproject.toml sets them; any finding fails
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy libs/*/src services/*/src tools/*/src

unit: install  ## tests that need no broker or database
	$(PY) -m pytest -m "not stack"

# pytest exits 5 when it collected no test; like any non-zero exit that fails the target.
test: $(STACK_UP) contracts-check  ## every test: unit, integration and end-to-end, on the real stack
	$(PY) -m pytest

# The end-to-end suite again, on a broker with SASL/SCRAM and ACLs: every story still works with
# each service held to its own topics, and the ACL tests run.
test-sasl: install
	CRM_KAFKA_SASL=1 $(STACK) up
	CRM_STACK=local CRM_KAFKA_SASL=1 $(PY) -m pytest tests/e2e; status=$$?; CRM_KAFKA_SASL=1 $(STACK) down; exit $$status

# The end-to-end suite again on a three-broker cluster (with the tests that read replication and
# broker addresses), then its broker faults in `make chaos` (two brokers down, the busiest one
# killed -9 mid-wave, a rolling restart).
CLUSTER_TESTS := tests/e2e libs/runtime/tests/test_rebootstrap.py tools/cli/tests/test_cli.py
test-cluster: install
	CRM_KAFKA_BROKERS=3 $(STACK) up
	CRM_STACK=local CRM_KAFKA_BROKERS=3 $(PY) -m pytest $(CLUSTER_TESTS) && CRM_KAFKA_BROKERS=3 $(STACK) chaos cluster; \
	status=$$?; CRM_KAFKA_BROKERS=3 $(STACK) down; exit $$status

# --- containers (docs/containers.md) -----------------------------------------------------------

images: install  ## build the images docker-compose.yml and the container fixtures run (bases from Debian's packages where no registry answers)
	bash scripts/images.sh

compose-up: install  ## docker-compose.yml on Docker (or podman), in stages; returns when every service is healthy
	$(STACK) compose up

compose-down:  ## stop and remove docker-compose.yml's containers
	@if [ -x $(STACK) ]; then $(STACK) compose down; fi

# The end-to-end suite on docker-compose.yml's containers, then on containers testcontainers starts.
# Every test client reaches the containers from one forwarding address, so the Open API's limit on
# unknown keys per address would count the whole suite together: raised for these runs.
test-compose: install
	CRM_OPEN_API_MISSES_PER_MINUTE=100000 $(STACK) compose up
	CRM_STACK=compose $(PY) -m pytest tests/e2e; status=$$?; $(STACK) compose down; exit $$status

test-containers: install
	CRM_OPEN_API_MISSES_PER_MINUTE=100000 CRM_STACK=containers $(PY) -m pytest tests/e2e
