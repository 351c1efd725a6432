# Slipway developer entry points. `make help` lists them.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0
# The pinned golangci-lint, installed into GOPATH/bin on first use (whatever PATH holds).
GOLANGCI_LINT := $(shell $(GO) env GOPATH)/bin/golangci-lint
FUZZTIME ?= 60s

.PHONY: help build test test-deps lint bench fuzz quickstart release clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build slipway, slipway-agent and slipway-server into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway ./action
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway-agent ./agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway-server ./server

test: test-deps lint ## install what the tests need (as root / in CI), lint, then vet and run every test with -race
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 15m ./...

test-deps: ## install packages and test users the tests need (no-op when present)
	@bash scripts/test-deps.sh

lint: ## golangci-lint (installed at a pinned version on first use)
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q ' $(GOLANGCI_LINT_VERSION:v%=%) ' || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GOLANGCI_LINT) run ./...

bench: ## run the benchmarks that print ratios against a baseline (see bench/README.md)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/...
	$(GO) run ./bench/extract
	$(GO) run ./bench/lifecycle -runs 30
	$(GO) run ./bench/traffic

fuzz: ## fuzz the parsers for 60s each (FUZZTIME=5m for longer)
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/appspec
	@# Each FuzzExtract input extracts into fresh directories, so an input takes milliseconds; with
	@# the default 60 s spent minimising every new interesting input, most of a run went to that.
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./internal/bundle

quickstart: ## a server, three agents, a deployment and an automatic rollback, all in a temp dir
	@bash examples/quickstart.sh

# The Action downloads these for a release tag and checks them against action/release.sha256,
# which is committed in the tagged tree: build with the Go version of the release so the sums
# can be reproduced (-trimpath, no build id, no VCS stamp).
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

release: ## build the Action's release binaries into dist/ and record their sha256 in action/release.sha256 (VERSION=vX.Y.Z)
	@echo "$(VERSION)" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+$$' || { echo "release: give VERSION=vX.Y.Z (got $(VERSION))"; exit 1; }
	@mkdir -p dist && rm -f dist/slipway_*
	@for t in $(RELEASE_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
	    -ldflags '-s -w -buildid= -X main.version=$(VERSION)' -o dist/slipway_$${os}_$${arch} ./action || exit 1; \
	done
	@grep -v ' $(VERSION)/' action/release.sha256 > action/release.sha256.new || true
	@cd dist && for f in slipway_*; do sha256sum $$f | awk -v v=$(VERSION) '{print $$1 "  " v "/" $$2}'; done >> ../action/release.sha256.new
	@mv action/release.sha256.new action/release.sha256
	@echo "dist/ holds the binaries; commit action/release.sha256, tag $(VERSION), then upload dist/* to the release"

clean: ## remove build output
	rm -rf $(BIN) dist
