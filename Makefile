# Relay's developer entry points. `make run` and `make test` are the two
# commands a newcomer needs; the others are what they would guess.

GO        ?= go
BIN       := bin
TOOLS     := $(CURDIR)/.tools/bin
STATICCHECK_VERSION := v0.8.2
PKGS      := ./...
BENCH_COUNT ?= 6
BENCH_DIST_COUNT ?= 1

.PHONY: build-PythonRunnerFunction build-NodeRunnerFunction
.PHONY: all build run test test-faults test-short ric bench bench-dist bench-prefect soak lint fmt docs check-docs fuzz tools clean help services-up services-down lambdas sam-check deploy ui ui-check ui-screenshots

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the relay CLI into bin/
	$(GO) build -trimpath -o $(BIN)/relay ./cmd/relay

run: build ## run examples/flows/hello.yaml in this process (no services needed)
	$(BIN)/relay run examples/flows/hello.yaml

# The runtime interface clients build, then Chromium (the web UI's browser
# tests) installs, while the services' jars and packages download (a fresh
# machine's slowest steps). Both of the first may use apt-get: one at a time.
test: ## go vet, then all the tests with Kafka, DynamoDB Local and Chromium (services/README.md, docs/ui.md)
	{ bash functions/runner/ric.sh >/dev/null && bash ui/browser/chromium.sh; } & prep=$$!; bash services/services.sh fetch; fetched=$$?; wait $$prep && test $$fetched = 0
	$(GO) vet $(PKGS)
	bash services/with-services.sh $(GO) test -count=1 $(PKGS)

test-faults: ## the fault suite: a Kafka broker killed -9 and restarted, DynamoDB cut off and behind a fault-injecting proxy (CI runs it after test)
	bash services/with-services.sh env RELAY_FAULT_TESTS=1 $(GO) test -count=1 -timeout 20m -run '^(TestOutage_|TestDynamoFaults_|TestLease_)' ./systemtest/

test-short: ## the quick subset of the tests
	$(GO) test -short -count=1 $(PKGS)

ric: ## install the Lambda runtime interface clients the runner functions are tested under (.cache/ric)
	bash functions/runner/ric.sh >/dev/null

services-up: ## start Kafka, DynamoDB Local and an S3 server (moto) on 127.0.0.1 for integration tests
	bash services/services.sh up

services-down: ## stop them (Kafka's data is wiped)
	bash services/services.sh down

bench: ## benchmarks (results and commands in docs/benchmarks.md)
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCH_COUNT) $(PKGS)

bench-dist: build ## distributed-path benchmarks on Kafka and DynamoDB Local, BENCH_DIST_COUNT runs (docs/benchmarks.md)
	RELAY_BENCH_DIST=1 RELAY_BENCH_BIN=$(CURDIR)/$(BIN)/relay bash services/with-services.sh \
		$(GO) test -run='^$$' -bench='^BenchmarkDist_' -benchtime=1x -count=$(BENCH_DIST_COUNT) -timeout=30m ./serverless/

bench-prefect: build ## the same workloads with relay run and Prefect 3.9.1's local mode, side by side (bench/prefect)
	bash bench/prefect/run.sh $(or $(RUNS),5)

SOAK_DURATION ?= 2m
SOAK_RATE ?= 2
SOAK_KILL_EVERY ?= 5s
SOAK_REPORT := $(CURDIR)/.cache/soak-report.txt

soak: ## relay dev under steady load with random kill -9 (SOAK_DURATION, SOAK_RATE per second, SOAK_KILL_EVERY): executions/s, lost, duplicates, memory
	rm -f $(SOAK_REPORT)
	RELAY_SOAK=1 SOAK_DURATION=$(SOAK_DURATION) SOAK_RATE=$(SOAK_RATE) SOAK_KILL_EVERY=$(SOAK_KILL_EVERY) SOAK_REPORT=$(SOAK_REPORT) \
		bash services/with-services.sh $(GO) test -count=1 -run '^TestSoak$$' -timeout 0 ./systemtest/; \
		status=$$?; cat $(SOAK_REPORT) 2>/dev/null; exit $$status

lint: tools ## go vet and staticcheck
	$(GO) vet $(PKGS)
	$(TOOLS)/staticcheck $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The web UI (docs/ui.md): ui/web is built with esbuild, from the
# packages package-lock.json pins, into ui/dist, which is committed and
# embedded in the binary (no Node at run time). ui-check (CI) builds it
# again into a temporary folder and fails when ui/dist differs.
UI_WEB := ui/web

$(UI_WEB)/node_modules/.package-lock.json: $(UI_WEB)/package-lock.json
	cd $(UI_WEB) && npm ci --no-audit --no-fund --loglevel=error

ui: $(UI_WEB)/node_modules/.package-lock.json ## build the web UI into ui/dist (npm ci from the lockfile, then esbuild)
	cd $(UI_WEB) && node build.mjs

ui-check: $(UI_WEB)/node_modules/.package-lock.json ## fail when ui/dist is not what `make ui` builds from ui/web
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	(cd $(UI_WEB) && node build.mjs "$$out" >/dev/null) && \
	diff -r "$$out" ui/dist >/dev/null || { echo "ui/dist is not built from ui/web as it is: run make ui and commit ui/dist"; diff -r "$$out" ui/dist | head -20; exit 1; }

ui-screenshots: ## regenerate the screenshots of docs/ui.md in a real browser (Chromium, installed when missing)
	bash ui/browser/chromium.sh
	RELAY_UI_SCREENSHOTS=$(CURDIR)/docs/ui $(GO) test -count=1 -run '^TestScreenshots$$' ./ui/browser/

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

# The Lambda functions of template.yaml. `sam build` runs
# `make build-<LogicalId>` with ARTIFACTS_DIR set (BuildMethod: makefile);
# `make lambdas` builds them all into bin/lambda/<function>/bootstrap.
# LAMBDA_ARCH is the template's architecture; tests build for the host's.
LAMBDA_ARCH ?= arm64
LAMBDA_FUNCTIONS := executor worker router scheduler api
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w -buildid='

define lambda_target
build-$(2)Function:
	CGO_ENABLED=0 GOOS=linux GOARCH=$$(LAMBDA_ARCH) $$(GO) build $$(LAMBDA_FLAGS) -o $$(or $$(ARTIFACTS_DIR),$$(BIN)/lambda/$(1))/bootstrap ./functions/$(1)
endef
$(foreach f,$(LAMBDA_FUNCTIONS),$(eval $(call lambda_target,$(f),$(shell echo $(f) | sed 's/./\U&/'))))

# The runner functions: the relay-runner binary beside the handler of a
# managed runtime (functions/runner).
RUNNER_OUT = $(or $(ARTIFACTS_DIR),$(BIN)/lambda/$(1))

build-PythonRunnerFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(LAMBDA_FLAGS) -o $(call RUNNER_OUT,python-runner)/relay-runner ./functions/runner
	cp functions/runner/python/relay_runner.py $(call RUNNER_OUT,python-runner)/

build-NodeRunnerFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(LAMBDA_FLAGS) -o $(call RUNNER_OUT,node-runner)/relay-runner ./functions/runner
	cp functions/runner/node/index.mjs $(call RUNNER_OUT,node-runner)/

lambdas: $(foreach f,$(LAMBDA_FUNCTIONS),build-$(shell echo $(f) | sed 's/./\U&/')Function) build-PythonRunnerFunction build-NodeRunnerFunction ## build the Lambda functions into bin/lambda/

# AWS SAM CLI and cfn-lint, from PyPI into a virtualenv of the project.
VENV := $(CURDIR)/.tools/venv
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
SAM := SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam

$(VENV)/bin/sam:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION) cfn-lint==$(CFN_LINT_VERSION)

sam-check: $(VENV)/bin/sam ## sam validate --lint and sam build of template.yaml (needs no AWS account)
	$(SAM) validate --lint --region us-east-1
	$(SAM) build

deploy: $(VENV)/bin/sam ## sam build, then sam deploy (GUIDED=1 the first time asks for the parameters)
	$(SAM) build
	$(SAM) deploy $(if $(GUIDED),--guided)

# LocalStack (localstack/README.md). Host mode, for machines without
# Docker: LocalStack 4.14 from PyPI under Python 3.13 in .tools/localstack,
# DynamoDB Local from services/, Kafka from services/, all on 127.0.0.1.
LOCALSTACK := bash localstack/host.sh

.PHONY: localstack-install localstack-up localstack-deploy localstack-dev localstack-down test-localstack

localstack-install: ## only install LocalStack into .tools/localstack (localstack-up does it when needed)
	$(LOCALSTACK) install

localstack-up: ## start LocalStack (no Docker) and Kafka, with the state table, bucket, Kafka secret and network of its init hooks
	$(LOCALSTACK) up

localstack-deploy: ## deploy template.yaml, less what LocalStack's community edition lacks, as the stack relay-local (after localstack-up)
	$(LOCALSTACK) deploy

localstack-dev: build ## relay dev (every role, the API on 127.0.0.1:8080) on LocalStack and Kafka, on the stack's table after localstack-deploy
	$(LOCALSTACK) dev

localstack-down: ## stop LocalStack and Kafka; their state goes with them
	$(LOCALSTACK) down

test-localstack: ## LocalStack and Kafka, conformance suites, the stack, relay dev and the schedule on it; stops them after
	bash localstack/test.sh

# The Docker Compose variant (localstack/README.md, "With Docker"):
# LocalStack and Kafka in containers, the functions in LocalStack's Lambda.
LOCALSTACK_DOCKER := bash localstack/local.sh

.PHONY: localstack-docker-up localstack-docker-deploy localstack-docker-dev localstack-docker-down

localstack-docker-up: ## with Docker: LocalStack and Kafka in containers, with the same init hooks
	$(LOCALSTACK_DOCKER) up

localstack-docker-deploy: ## with Docker: sam build and sam deploy --config-env local, the functions in LocalStack's Lambda
	$(LOCALSTACK_DOCKER) deploy-check
	@$(MAKE) -s --no-print-directory $(VENV)/bin/sam
	VENV=$(VENV) $(LOCALSTACK_DOCKER) deploy

localstack-docker-dev: build ## with Docker: relay dev on the containers' LocalStack and Kafka
	$(LOCALSTACK_DOCKER) dev

localstack-docker-down: ## with Docker: stop the containers; their state goes with them
	$(LOCALSTACK_DOCKER) down

clean: ## remove build outputs
	rm -rf $(BIN)
