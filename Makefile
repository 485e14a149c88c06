# Atrium. `make up` runs the platform; `make test` runs every test. Each target is a thin call
# into Go, npm or a script under scripts/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN      := $(CURDIR)/.atrium/bin
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

.PHONY: up
up: deps tools frontend-build ## run the whole platform locally (Ctrl-C stops it)
	@scripts/stripe-mock.sh
	go run ./devstack/cmd/devstack

.PHONY: test
test: deps lint check-generated test-go test-frontend ## every check and test (what CI runs)

.PHONY: test-go
test-go: deps ## Go tests of every module, against the real Postgres and Redis
	go test $(GOTEST_FLAGS) $(PKGS)

.PHONY: test-short
test-short: ## unit tests only (integration tests skip under -short)
	go test -short $(PKGS)

.PHONY: test-frontend
test-frontend: frontend-deps ## web app unit tests and type-checked build
	cd frontend && npm test && npm run build

.PHONY: bench
bench: deps ## benchmarks; figures go to docs/BENCHMARKS.md
	go test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

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
	cd gen && go mod tidy

.PHONY: check-generated
check-generated: tools frontend-deps ## fail if committed generated code differs from proto/
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(BUF) generate -o $$tmp && \
	diff -r $$tmp/gen/atrium gen/atrium && diff -r $$tmp/frontend/src/gen frontend/src/gen || \
	{ echo "generated code is stale: run 'make generate' and commit"; exit 1; }

.PHONY: lint
lint: tools ## buf lint, gofmt and go vet on every module
	$(BUF) lint
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)

.PHONY: build
build: ## build every binary into .atrium/bin
	go build -o $(BIN)/ ./services/tenancy/cmd/tenancyd ./services/catalog/cmd/catalogd \
		./services/entitlements/cmd/entitlementsd ./services/billing/cmd/billingd ./services/insights/cmd/insightsd \
		./gateway/cmd/gatewayd ./tenantctl/cmd/tenantctl ./devstack/cmd/devstack
