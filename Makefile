# Heroku database URL sync — the few commands the README names.
# Every target installs what it needs (Python tools into .venv) and says what it does.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
PORT      ?= 8787
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv test lint unit check-template check-events dev demo bench build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements-dev.txt
	@echo "==> Installing moto, SAM CLI, cargo-lambda and cfn-lint into $(VENV)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP) ## Install the Python tools into .venv

lint: ## cargo fmt --check and clippy -D warnings
	@echo "==> rustfmt"
	cargo fmt --all -- --check
	@echo "==> clippy"
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit: $(STAMP) ## Every Rust test (moto and the fake Heroku start on their own)
	@echo "==> cargo test (moto_server from $(VENV))"
	cargo test --workspace --locked

test: $(STAMP) lint unit check-template ## Everything: lint, every test, template and sample-event checks

# Offline on purpose: a region but no credentials, config or telemetry, so the checks
# behave the same on a laptop, in CI and on a machine with no AWS account at all.
OFFLINE_AWS := env AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

check-template: $(STAMP) ## template.yaml and docs/openapi.yaml: sam validate --lint, cfn-lint, OpenAPI 3.1, ROUTES/IAM tests
	@echo "==> sam validate --lint (offline)"
	$(OFFLINE_AWS) sam validate --lint --template template.yaml
	@echo "==> cfn-lint, informational checks included (offline)"
	$(OFFLINE_AWS) cfn-lint --include-checks I -- template.yaml
	@echo "==> openapi-spec-validator docs/openapi.yaml"
	openapi-spec-validator docs/openapi.yaml
	@echo "==> template.yaml and docs/openapi.yaml against shared::http::ROUTES"
	@# --workspace, not -p deploy-tests: the same feature set as `make unit`, so no rebuild.
	cargo test --locked --workspace --test template --test openapi

dev: $(STAMP) ## The local stack in the foreground on 127.0.0.1:$(PORT)
	cargo run --locked -p devserver --bin dev -- --port $(PORT)

demo: $(STAMP) ## Build and play the whole story end to end
	cargo run --locked -p devserver --bin demo

# The release build is the one SAM ships (LTO fat, one codegen unit): slow the first time,
# reused after. The driver itself is a debug build, sharing `make test`'s dependencies.
bench: $(STAMP) ## Benchmarks: release bootstraps vs a local Lambda Runtime API, moto and the fake Heroku; writes BENCHMARKS.md
	@echo "==> Release bootstraps (native; the first build takes several minutes)"
	cargo build --release --locked -p webhook -p connect -p opt-out
	@echo "==> Bench driver"
	cargo build --locked -p bench
	@echo "==> Cold starts, warm latency, bursts, memory and size (about 5 minutes)"
	./target/debug/bench --command "make bench"

build: $(STAMP) ## Release Lambda binaries for arm64 with cargo-lambda
	cargo lambda build --release --arm64 --locked

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .aws-sam
