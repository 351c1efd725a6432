# Slipway developer entry points. `make help` lists them.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0

.PHONY: help build test test-deps lint bench fuzz quickstart clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build slipway, slipway-agent and slipway-server into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway ./action
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway-agent ./agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway-server ./server

test: test-deps ## install what the tests need (as root / in CI), then vet and run every test with -race
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 15m ./...

test-deps: ## install packages and test users the tests need (no-op when present)
	@bash scripts/test-deps.sh

lint: ## golangci-lint (installed at a pinned version on first use)
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	golangci-lint run ./...

bench: ## run the benchmarks that print ratios against a baseline (see bench/README.md)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/...
	$(GO) run ./bench/extract

fuzz: ## fuzz the parsers for 60s each
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/appspec
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./internal/bundle

quickstart: ## a server, three agents, a deployment and an automatic rollback, all in a temp dir
	@bash examples/quickstart.sh

clean: ## remove build output
	rm -rf $(BIN)
