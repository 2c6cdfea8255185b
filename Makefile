# qrmfg — see README.md. `make test` runs everything CI runs.
GO        ?= go
PKG       := ./...
BIN       := bin/qrmfg
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOLANGCI  ?= $(shell command -v golangci-lint 2>/dev/null || echo $(HOME)/go/bin/golangci-lint)
GOLANGCI_VERSION := v2.15.0
# Debian packages the tests use: independent decoders and encoders to check
# our codes against, the reference encoder, and PDF rasterising.
TEST_DEBS := curl zbar-tools zxing-cpp-tools qrencode python3-qrcodegen poppler-utils chromium prometheus
export QRMFG_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: help build run test test-unit test-race test-web web web-deps web-check bench lint fmt vet deps tools clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/qrmfg (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/qrmfg

run: ## run the server on :8000 with SQLite under ./data
	$(GO) run ./cmd/qrmfg serve

deps: ## install the Debian tools the tests use (needs root; skipped when present)
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps vet test-unit test-race test-web ## everything: vet, unit, store conformance on SQLite and PostgreSQL, e2e, the web UI

vet:
	$(GO) vet $(PKG)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-unit:
	$(GO) test -count=1 -timeout 15m $(PKG)

test-race: ## the concurrent code under the race detector (short mode skips the big data sets)
	$(GO) test -count=1 -race -short -timeout 10m ./internal/bus/... ./internal/httpapi/... ./internal/inventory/... ./internal/config/... ./internal/idempotency/... ./cmd/...

# The web UI (web/): its build in web/dist is committed and embedded in the
# binary, so Go builds need no Node. These targets need Node 20 and npm.
web-deps:
	cd web && npm ci --no-audit --no-fund --loglevel=error

web: web-deps ## rebuild the web UI into web/dist (commit the result)
	cd web && npm run gen:api && npm run build

web-check: web-deps ## fail when web/src/api/schema.ts or web/dist is stale
	cd web && npm run gen:api -- --check && npm run build
	@test -z "$$(git status --porcelain -- web/dist)" || { git status --short -- web/dist; \
		echo "web/dist is stale: run 'make web' and commit it"; exit 1; }

test-web: web-check build ## the UI: unit tests, then headless Chromium against bin/qrmfg
	cd web && npm test && UI_E2E_BIN=$(CURDIR)/$(BIN) npm run e2e

bench: ## benchmarks of the hot paths (figures in docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/qr/ ./internal/render/ ./internal/sqlstore/

tools: ## install golangci-lint from the Go module proxy
	@test -x $(GOLANGCI) || GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: tools vet ## go vet, gofmt and golangci-lint
	$(GOLANGCI) run $(PKG)

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
