# call-control: `make run` brings the local stack up; `make test` runs every check and test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON ?= 3.11
# One uv for every target and script, pinned: deploy/uv.sh finds it (PATH, ~/.local/bin) or says
# where it installs it; scripts get it through the environment.
export UV_VERSION := 0.13.9
export UV := $(shell UV_VERSION=$(UV_VERSION) deploy/uv.sh --path)
export KAFKA_PORT ?= 9092
export REDIS_PORT ?= 6379
export CALLCTL_TEST_KAFKA ?= 127.0.0.1:$(KAFKA_PORT)
export CALLCTL_TEST_REDIS ?= redis://127.0.0.1:$(REDIS_PORT)/15
# The fault proxy of tests/faults (Shopify/toxiproxy), built with go, pinned.
TOXIPROXY_VERSION := v2.5.0
GOBIN_DIR := $(shell go env GOPATH 2>/dev/null)/bin
ifneq ($(GOBIN_DIR),/bin)
export CALLCTL_TOXIPROXY_SERVER ?= $(GOBIN_DIR)/server
endif

.PHONY: help deps install run callctl stop check lint typecheck imports schemas test unit integration \
	services bench bench-quick bench-callbacks clean image image-smoke images test-containers helm-check test-cluster cluster-down soak alerts-check compose-config sbom audit \
	toxiproxy examples asyncapi-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s  %s\n", $$1, $$2}'

$(UV):
	deploy/uv.sh >/dev/null

deps: $(UV) ## install the Python dependencies from the lock file (and the pinned uv if missing)
	"$(UV)" sync --frozen

install: deps ## deps, and the Kafka broker's jars
	deploy/kafka.sh download

services: install ## start the local Kafka broker and Redis
	deploy/kafka.sh start
	deploy/redis.sh start

# With CALLCTL_KAFKA__BOOTSTRAP_SERVERS set, that broker is used and none is started.
run: deps ## start Kafka, the simulator (unless real Sinch credentials are set) and the service
	@set -e; \
	if [[ -n "$${CALLCTL_KAFKA__BOOTSTRAP_SERVERS:-}" ]]; then \
		echo "make run: using the broker at $$CALLCTL_KAFKA__BOOTSTRAP_SERVERS (CALLCTL_KAFKA__BOOTSTRAP_SERVERS)"; \
	else deploy/kafka.sh start; fi; \
	source deploy/dev-env.sh; \
	if [[ $$USE_SIMULATOR == 1 ]]; then \
		deploy/simulator.sh start || { echo "make run: the simulator did not start (above): stopping" >&2; exit 1; }; \
	else echo "make run: real Sinch credentials found: not starting the simulator"; fi; \
	exec "$(UV)" run --frozen python -m service

callctl: deps ## run callctl against the local stack, e.g. make callctl ARGS='send hangup --call-id demo-1 --wait'
	@source deploy/dev-env.sh; exec "$(UV)" run --frozen callctl $(ARGS)

stop: ## stop everything `make run` and `make test` started
	-deploy/simulator.sh stop
	-deploy/redis.sh stop
	-deploy/kafka.sh stop

lint: ## ruff (lint and format)
	"$(UV)" run --frozen ruff check .
	"$(UV)" run --frozen ruff format --check .

typecheck: ## mypy --strict
	"$(UV)" run --frozen mypy

imports: ## import rules between the packages (import-linter; docs/decisions/0005-package-layout.md)
	"$(UV)" run --frozen lint-imports --no-cache --no-logo

schemas: ## regenerate schemas/ from the models
	"$(UV)" run --frozen python -m service.schema_export

check: lint typecheck imports ## all static checks, import rules, and the committed schemas match the models
	"$(UV)" run --frozen python -m service.schema_export --check

examples: ## what the Java/Go/Node snippets and the AsyncAPI check need (Maven Central, Go proxy, npm; cached)
	deploy/examples.sh

asyncapi-check: examples ## validate schemas/asyncapi.json with AsyncAPI's own parser (@asyncapi/parser, from npm)
	node deploy/asyncapi/validate.mjs schemas/asyncapi.json

unit: examples ## tests that need nothing running
	"$(UV)" run --frozen pytest tests --ignore=tests/integration -q

integration: services examples ## tests against the real broker, Redis and the simulator
	"$(UV)" run --frozen pytest tests/integration -q

toxiproxy: ## build the pinned Toxiproxy server for the fault tests (go install, once)
	@command -v go >/dev/null || { echo "go is needed to build toxiproxy" >&2; exit 1; }
	@if [[ "$$(go version -m "$(GOBIN_DIR)/server" 2>/dev/null | awk '$$1=="mod" {print $$2, $$3}')" \
		!= "github.com/Shopify/toxiproxy/v2 $(TOXIPROXY_VERSION)" ]]; then \
		echo "building toxiproxy $(TOXIPROXY_VERSION) into $(GOBIN_DIR)"; \
		GOBIN="$(GOBIN_DIR)" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)"; \
	fi

test: install check services toxiproxy examples ## every check, then every test (unit and integration)
	"$(UV)" run --frozen pytest tests -q -rfE

bench: install services ## issue 15's targets, every contender, the sweep; fails on a ratio >20% below the last committed report (~10 min)
	"$(UV)" run --frozen python -m bench

bench-quick: install services ## the same targets, short runs, no sweep: prints the ratios, fails on a regression (~3 min)
	"$(UV)" run --frozen python -m bench --quick

bench-callbacks: install services ## callbacks at 200/s, SQLite then Redis (~2 min; needs go)
	"$(UV)" run --frozen python -m bench.callbacks

soak: install services toxiproxy ## 30 min at half the measured maximum with Sinch faults; RSS, lanes (not in CI)
	"$(UV)" run --frozen python -m bench.soak

image: ## build the image call-control:dev (local Debian base; starts dockerd if none answers)
	deploy/docker/build.sh

image-smoke: image ## one command through the image against local Kafka and a simulator
	deploy/docker/smoke.sh

images: install ## build the service, simulator and Kafka images (local Debian base; starts dockerd if none answers)
	deploy/docker/build.sh all

test-containers: images ## Kafka, the simulator and the service as containers (call_control_testing), and the compose stack
	CALLCTL_TEST_CONTAINERS=1 TESTCONTAINERS_RYUK_DISABLED=true "$(UV)" run --frozen pytest tests/containers -q -rfE

helm-check: ## lint, render and validate the Helm chart offline (pinned helm and kubeconform, built with go)
	deploy/helm-check.sh

test-cluster: image ## helm install + helm test on a local single-node Kubernetes built from the Go module proxy (root; first build ~30 min, then ~2 min; CI: only where cached)
	test -x "$(GOBIN_DIR)/helm" || deploy/helm-check.sh
	IMAGE=call-control:dev deploy/cluster/helm-test.sh

cluster-down: ## stop what test-cluster left running (KEEP_CLUSTER=1): release, its broker and simulator, the cluster
	deploy/cluster/helm-test.sh down

sbom: deps ## CycloneDX SBOMs: the lock file, and the image (or this environment without Docker)
	deploy/sbom.sh

audit: deps ## pip-audit of the locked dependencies (needs its vulnerability database online; not in CI)
	deploy/audit.sh

alerts-check: ## alert rules: promtool check rules and the rules' unit tests (pinned promtool, built with go)
	deploy/alerts-check.sh

compose-config: ## validate deploy/compose.yaml (and with deploy/compose.local.yaml)
	for files in "-f deploy/compose.yaml" "-f deploy/compose.yaml -f deploy/compose.local.yaml"; do \
		docker compose $$files config -q 2>/dev/null || docker-compose $$files config -q || exit 1; \
	done

clean: stop ## stop services and remove local state
	rm -rf .local .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache .grimp_cache
