# call-control: `make run` brings the local stack up; `make test` runs every check and test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON ?= 3.11
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
export KAFKA_PORT ?= 9092
export REDIS_PORT ?= 6379
export CALLCTL_TEST_KAFKA ?= 127.0.0.1:$(KAFKA_PORT)
export CALLCTL_TEST_REDIS ?= redis://127.0.0.1:$(REDIS_PORT)/15

.PHONY: help install run stop check lint typecheck imports schemas test unit integration services bench clean \
	image image-smoke images test-containers helm-check compose-config

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

install: $(UV) ## install Python deps (uv, from the lock file) and the Kafka broker's jars
	$(UV) sync --frozen
	deploy/kafka.sh download

services: install ## start the local Kafka broker and Redis
	deploy/kafka.sh start
	deploy/redis.sh start

run: install ## start Kafka, the simulator (unless real Sinch credentials are set) and the service
	deploy/kafka.sh start
	@source deploy/dev-env.sh; \
	if [[ $$USE_SIMULATOR == 1 ]]; then deploy/simulator.sh start; \
	else echo "real Sinch credentials found: not starting the simulator"; fi; \
	exec $(UV) run --frozen python -m service

stop: ## stop everything `make run` and `make test` started
	-deploy/simulator.sh stop
	-deploy/redis.sh stop
	-deploy/kafka.sh stop

lint: ## ruff (lint and format)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: ## mypy --strict
	$(UV) run --frozen mypy

imports: ## import rules between the packages (import-linter; docs/decisions/0005-package-layout.md)
	$(UV) run --frozen lint-imports --no-cache --no-logo

schemas: ## regenerate schemas/ from the models
	$(UV) run --frozen python -m service.schema_export

check: lint typecheck imports ## all static checks, import rules, and the committed schemas match the models
	$(UV) run --frozen python -m service.schema_export --check

unit: ## tests that need nothing running
	$(UV) run --frozen pytest tests --ignore=tests/integration -q

integration: services ## tests against the real broker, Redis and the simulator
	$(UV) run --frozen pytest tests/integration -q

test: install check services ## every check, then every test (unit and integration)
	$(UV) run --frozen pytest tests -q -rfE

bench: install services ## benchmarks (see bench/README.md)
	$(UV) run --frozen python -m bench

image: ## build the image call-control:dev (local Debian base; starts dockerd if none answers)
	deploy/docker/build.sh

image-smoke: image ## one command through the image against local Kafka and a simulator
	deploy/docker/smoke.sh

images: install ## build the service, simulator and Kafka images (local Debian base; starts dockerd if none answers)
	deploy/docker/build.sh all

test-containers: images ## Kafka, the simulator and the service as containers (call_control_testing), and the compose stack
	CALLCTL_TEST_CONTAINERS=1 TESTCONTAINERS_RYUK_DISABLED=true $(UV) run --frozen pytest tests/containers -q -rfE

helm-check: ## lint, render and validate the Helm chart offline (pinned helm and kubeconform, built with go)
	deploy/helm-check.sh

compose-config: ## validate deploy/compose.yaml (and with deploy/compose.local.yaml)
	for files in "-f deploy/compose.yaml" "-f deploy/compose.yaml -f deploy/compose.local.yaml"; do \
		docker compose $$files config -q 2>/dev/null || docker-compose $$files config -q || exit 1; \
	done

clean: stop ## stop services and remove local state
	rm -rf .local .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache .grimp_cache
