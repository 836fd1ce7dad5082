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

.PHONY: help venv test lint unit browser-test console-screenshot check-template check-events dev demo bench bench-smoke build arm64-target clean

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

test: $(STAMP) lint unit browser-test check-template ## Everything: lint, every test, the browser test, template and sample-event checks

# Debian's Chromium and its matching chromedriver, never a downloaded browser: Selenium is
# pointed at /usr/bin/chromedriver, so Selenium Manager fetches nothing. Missing ones are
# installed when we can (root with apt-get), otherwise the target fails saying what to
# install: a browser test that skips itself would pass without testing anything.
CHROMIUM     := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

browser-test: $(STAMP) ## The reference console at /console, driven in headless Chromium (Selenium)
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> Installing Debian's chromium and chromium-driver (apt-get)"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
		else \
			echo "error: the browser test needs $(CHROMIUM) and $(CHROMEDRIVER):" >&2; \
			echo "       sudo apt-get install chromium chromium-driver   (Debian/Ubuntu)" >&2; \
			exit 1; \
		fi; \
	fi
	@test -x $(CHROMIUM) && test -x $(CHROMEDRIVER) || { \
		echo "error: $(CHROMIUM) or $(CHROMEDRIVER) is still missing after the install" >&2; exit 1; }
	@echo "==> Dev stack binary (--workspace: the same features as the other targets, no rebuild)"
	cargo build --locked --workspace --bins
	@echo "==> Browser test: $(CHROMIUM) via $(CHROMEDRIVER)"
	$(VENV)/bin/pytest -q devserver/browser

console-screenshot: ## Refresh docs/console.png (the README's picture) from the browser test
	CONSOLE_SCREENSHOT=$(CURDIR)/docs/console.png $(MAKE) browser-test

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
	cargo test --locked --workspace --test checks

dev: $(STAMP) ## The local stack in the foreground on 127.0.0.1:$(PORT)
	cargo run --locked -p devserver --bin dev -- --port $(PORT)

demo: $(STAMP) ## Build and play the whole story end to end
	cargo run --locked -p devserver --bin demo

# The release build is the one SAM ships (LTO fat, one codegen unit): slow the first time,
# reused after. The driver itself is a debug build, sharing `make test`'s dependencies.
bench: $(STAMP) ## Benchmarks: release bootstraps vs a local Lambda Runtime API, moto and the fake Heroku; writes BENCHMARKS.md
	@echo "==> Release bootstraps (native; the first build takes several minutes)"
	cargo build --release --locked -p webhook -p connect -p opt-out -p reconcile -p rust-baseline
	@echo "==> Bench driver"
	cargo build --locked -p bench
	@echo "==> Cold starts, warm latency, bursts, memory, size, reconcile and the soak (about 12 minutes)"
	./target/debug/bench --command "make bench"

bench-smoke: $(STAMP) ## The bench's code at smoke size (CI): fails on a wrong result; never touches BENCHMARKS.md
	cargo build --release --locked -p webhook -p connect -p opt-out -p reconcile -p rust-baseline
	cargo build --locked -p bench
	./target/debug/bench --quick --command "make bench-smoke" --out target/bench/smoke.md

# SAM builds the functions in parallel (samconfig.toml), and each cargo-lambda process adds
# a missing arm64 target itself: on a fresh machine they race on rustup and all but one
# fail (E0463, can't find crate for `core`). Adding it once first makes the race moot.
ARM64 := aarch64-unknown-linux-gnu

arm64-target: ## Install Rust's arm64 standard library once (rustup; about 30 MB)
	@if rustup target list --installed 2>/dev/null | grep -qx '$(ARM64)'; then \
		echo "==> Rust target $(ARM64) already installed"; \
	elif command -v rustup >/dev/null; then \
		echo "==> rustup target add $(ARM64) (the arm64 standard library, once)"; \
		rustup target add $(ARM64); \
	else \
		echo "error: no rustup: install Rust's $(ARM64) standard library for this toolchain" >&2; \
		exit 1; \
	fi

build: $(STAMP) arm64-target ## sam build: the arm64 bootstraps SAM deploys, then check each zip is < 5 MiB
	@echo "==> sam build (cargo-lambda cross-compiles each function for arm64 with zig)"
	$(OFFLINE_AWS) sam build
	@echo "==> bundle sizes"
	$(PY) deploy-tests/scripts/bundle_sizes.py

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .aws-sam
