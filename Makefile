# The entry point for people and CI. `make up` then `make test`; `make down` stops it all.
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  := $(VENV)/bin/crm-stack
PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)

.PHONY: install up down restart chaos status logs demo bench test unit contracts contracts-check

$(VENV)/.installed: scripts/bootstrap.sh requirements-dev.txt $(PYPROJECTS)
	bash scripts/bootstrap.sh
	touch $@

install: $(VENV)/.installed

up: install  ## start Kafka, PostgreSQL and the four services; returns when all are healthy
	$(STACK) up

down:  ## stop everything `make up` started
	@if [ -x $(STACK) ]; then $(STACK) down; fi

demo: up  ## the agent opt-in story on the live stack, as readable lines
	$(STACK) demo

bench: up  ## command-to-event latency and throughput on the live stack (prints medians)
	$(STACK) bench

status:
	$(STACK) status

chaos: up  ## faults under load (kill -9, replicas, broker and database restarts, poison) and the invariants checked
	$(STACK) chaos

restart:  ## restart the four services (after a code change); `make restart S="identity seats"` for some
	$(STACK) restart $(S)

logs:
	$(STACK) logs

contracts: install  ## regenerate JSON Schema and AsyncAPI from libs/contracts
	$(PY) -m crm_contracts.generate

contracts-check: install
	$(PY) -m crm_contracts.generate --check

unit: install  ## tests that need no broker or database
	$(PY) -m pytest -m "not stack"

# pytest exits 5 when it collected no test; like any non-zero exit that fails the target.
test: up contracts-check  ## every test: unit, integration and end-to-end, on the real stack
	$(PY) -m pytest
