# Atrium. `make up` runs the platform; `make test` runs every test. Each target is a thin call
# into Go, npm or a script under scripts/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# ATRIUM_STATE_DIR: local state, tools included (the README settings table).
BIN      := $(or $(ATRIUM_STATE_DIR),$(CURDIR)/.atrium)/bin
BUF      := $(BIN)/buf
# Every module of go.work (./gen ./platform ...), and their package patterns.
MODULES  := $(shell grep -oE '^\s+\./[^ ]+' go.work)
PKGS     := $(addsuffix /...,$(MODULES))
GOTEST_FLAGS ?= -timeout 9m
BENCH    ?= .
BENCHTIME ?= 1x

.PHONY: help
help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Settings (ports, database, Redis, prefix, web origin) come from the environment, with the
# defaults in scripts/env.sh and platform/config (the README's settings table).

.PHONY: up
up: prereqs deps tools frontend-build ## run the whole platform locally (Ctrl-C stops it)
	@scripts/stripe-mock.sh
	@# A built binary rather than `go run`: Ctrl-C reaches devstack itself, whose clean stop
	@# is then make's exit status (0).
	go build -o $(BIN)/devstack ./devstack/cmd/devstack
	$(BIN)/devstack

.PHONY: prereqs
prereqs: ## check the required tools and their versions
	@scripts/prereqs.sh

.PHONY: test
test: prereqs deps ## every check and test (what CI runs), with each phase's time
	@scripts/phases.sh lint check-generated test-go test-frontend test-browser

.PHONY: test-go
test-go: deps ## Go tests of every module, against the real Postgres and Redis
	@# -vet=off: `make lint` runs the full go vet once; go test's own vet pass would repeat it.
	go test -vet=off $(GOTEST_FLAGS) $(PKGS)

.PHONY: test-short
test-short: ## unit tests only (integration tests skip under -short)
	go test -short $(PKGS)

# Lighthouse (npm package, pinned) and the catalog's interactive time at 10k synthetic
# entities, in Debian's Chromium against a devstack; fails on a missed budget. Run it on a
# quiet machine (the figures go to docs/BENCHMARKS.md "Portal"); not part of make test.
.PHONY: portal-budgets
# BENCH_LOCK (below) is held only while measuring, not while importing the 10k entities.
portal-budgets: deps frontend-build chromium ## Lighthouse + catalog interactive time at 10k entities (docs/BENCHMARKS.md "Portal")
	ATRIUM_BENCH_LOCK=$(BENCH_LOCK) go test -tags browser -count=1 -timeout 12m -run '^TestPortalBudgets$$' -v ./devstack/e2e/

.PHONY: lighthouse
lighthouse: portal-budgets ## the same as portal-budgets

.PHONY: test-browser
test-browser: deps frontend-build chromium ## Playwright + axe in Chromium against a devstack; screenshots in .ci/artifacts/screenshots
	go test -tags browser -count=1 -timeout 6m -run '^TestBrowser$$' -v ./devstack/e2e/

# Debian's Chromium for playwright-core (Playwright's own browser download cannot work here).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

.PHONY: test-frontend
test-frontend: frontend-deps ## web app unit tests and type-checked build
	cd frontend && npm test && npm run build && node scripts/bundle-size.mjs

.PHONY: bench
bench: deps ## benchmarks; figures go to docs/BENCHMARKS.md
	go test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

.PHONY: bench-backstage
bench-backstage: deps ## Backstage's own catalog backend beside Atrium, same catalog and queries (npm, ~10 min)
	tools/backstagebench/run.sh

# The fleet at scale (BenchmarkFleet: sign-up, ListEntities, connection memory, disk and
# migrate --all at each fleet size) and the move of a large tenant beside pg_dump | psql
# (BenchmarkMoveLarge), each on Postgres servers of its own; not part of make test or make bench's
# sizes. FLEET_DIR keeps the fleet's server for a later run; BENCH_LOCK is held only while measuring.
FLEET_STAGES   ?= 1000,10000
MOVE_ENTITIES  ?= 100000
FLEET_DIR      ?=
BENCH_LOCK     ?=
.PHONY: bench-fleet
bench-fleet: ## fleet of 1k then 10k tenants and a 100k-entity move; figures in docs/BENCHMARKS.md
	cd devstack/e2e && ATRIUM_BENCH_FLEET_STAGES=$(FLEET_STAGES) ATRIUM_BENCH_MOVE_ENTITIES=$(MOVE_ENTITIES) \
		ATRIUM_BENCH_FLEET_DIR=$(FLEET_DIR) ATRIUM_BENCH_LOCK=$(BENCH_LOCK) \
		go test -run '^$$' -bench '^Benchmark(Fleet|MoveLarge)$$' -benchtime 1x -timeout 240m -v .

.PHONY: deps
deps: ## ensure Postgres and Redis are running (starts or installs them when not)
	@scripts/deps.sh

.PHONY: tools
tools: $(BUF) ## build the pinned tools (buf, protoc plugins, stripe-mock) into .atrium/bin

$(BUF): tools/go.mod tools/go.sum
	GOWORK=off go -C tools build -o $(BIN)/ \
		github.com/bufbuild/buf/cmd/buf \
		google.golang.org/protobuf/cmd/protoc-gen-go \
		connectrpc.com/connect/cmd/protoc-gen-connect-go \
		github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto \
		github.com/stripe/stripe-mock
	@touch $(BUF)

.PHONY: frontend-deps
frontend-deps: frontend/node_modules/.installed

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

.PHONY: frontend-build
frontend-build: frontend-deps ## build the web app into frontend/dist (served by the gateway)
	cd frontend && npm run build

.PHONY: generate
generate: tools frontend-deps ## regenerate gen/ and frontend/src/gen from proto/
	rm -rf gen/atrium frontend/src/gen
	$(BUF) generate
	$(BUF) generate --template buf.gen.vtproto.yaml --path proto/atrium/catalog
	cd gen && go mod tidy

.PHONY: check-generated
check-generated: tools frontend-deps ## fail if committed generated code differs from proto/
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(BUF) generate -o $$tmp && \
	$(BUF) generate --template buf.gen.vtproto.yaml --path proto/atrium/catalog -o $$tmp && \
	diff -r $$tmp/gen/atrium gen/atrium && diff -r $$tmp/frontend/src/gen frontend/src/gen || \
	{ echo "generated code is stale: run 'make generate' and commit"; exit 1; }

.PHONY: lint
lint: tools ## buf lint, gofmt and go vet on every module
	$(BUF) lint
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet -tags browser $(PKGS)

.PHONY: build
build: ## build every binary into .atrium/bin
	go build -o $(BIN)/ ./services/tenancy/cmd/tenancyd ./services/catalog/cmd/catalogd \
		./services/entitlements/cmd/entitlementsd ./services/billing/cmd/billingd ./services/insights/cmd/insightsd \
		./gateway/cmd/gatewayd ./tenantctl/cmd/tenantctl ./devstack/cmd/devstack
