# Relay's developer entry points. `make run` and `make test` are the two
# commands a newcomer needs; the others are what they would guess.

GO        ?= go
BIN       := bin
TOOLS     := $(CURDIR)/.tools/bin
STATICCHECK_VERSION := v0.8.2
PKGS      := ./...
BENCH_COUNT ?= 6
BENCH_DIST_COUNT ?= 1

.PHONY: all build run test test-short bench bench-dist lint fmt docs check-docs fuzz tools clean help services-up services-down

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the relay CLI into bin/
	$(GO) build -trimpath -o $(BIN)/relay ./cmd/relay

run: build ## run examples/flows/hello.yaml in this process (no services needed)
	$(BIN)/relay run examples/flows/hello.yaml

test: ## go vet, then all the tests with Kafka and DynamoDB Local running (services/README.md)
	$(GO) vet $(PKGS)
	bash services/with-services.sh $(GO) test -count=1 $(PKGS)

test-short: ## the quick subset of the tests
	$(GO) test -short -count=1 $(PKGS)

services-up: ## start Kafka, DynamoDB Local and an S3 server (moto) on 127.0.0.1 for integration tests
	bash services/services.sh up

services-down: ## stop them (Kafka's data is wiped)
	bash services/services.sh down

bench: ## benchmarks (results and commands in docs/benchmarks.md)
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCH_COUNT) $(PKGS)

bench-dist: build ## distributed-path benchmarks on Kafka and DynamoDB Local, BENCH_DIST_COUNT runs (docs/benchmarks.md)
	RELAY_BENCH_DIST=1 RELAY_BENCH_BIN=$(CURDIR)/$(BIN)/relay bash services/with-services.sh \
		$(GO) test -run='^$$' -bench='^BenchmarkDist_' -benchtime=1x -count=$(BENCH_DIST_COUNT) -timeout=30m ./serverless/

lint: tools ## go vet and staticcheck
	$(GO) vet $(PKGS)
	$(TOOLS)/staticcheck $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

fmt: ## format the Go code
	gofmt -w $$(git ls-files '*.go')

docs: ## regenerate docs/reference.md, docs/states.md, docs/flow.schema.json and docs/events* from the code
	$(GO) run ./cmd/relay docs --out docs/reference.md --states docs/states.md
	$(GO) run ./cmd/relay schema --out docs/flow.schema.json
	$(GO) test -count=1 -run '^TestCatalog' ./engine -update

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$${FUZZTIME:-30s} ./statemachine/flow/
	$(GO) test -run='^$$' -fuzz=FuzzParseRender -fuzztime=$${FUZZTIME:-30s} ./statemachine/expr/

tools: $(TOOLS)/staticcheck

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean: ## remove build outputs
	rm -rf $(BIN)
