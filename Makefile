# The two commands a newcomer needs: `make run` (the local stack) and `make test` (everything CI checks).
# Both set themselves up on a fresh machine: system packages (apt), a virtual environment, pinned dependencies.

SHELL := /bin/bash
# The functions run on AWS Lambda's python3.13 (Amazon Linux 2023); everything local runs on the same version.
PYTHON_VERSION := 3.13
ifndef PYTHON
PYTHON := $(shell bash $(dir $(abspath $(lastword $(MAKEFILE_LIST))))infra/find_python.sh $(PYTHON_VERSION) 2>/dev/null)
endif
VENV := .venv
PY := $(VENV)/bin/python
# The stamp names the version, so a venv of another Python is rebuilt rather than reused.
STAMP := $(VENV)/.installed-$(PYTHON_VERSION)
# Lambda architecture of `sam build`/`make deploy`: arm64 (the template's default) or x86_64.
ARCH ?= arm64
export LAMBDA_ARCHITECTURE ?= $(ARCH)
SYSTEM_PACKAGES := ffmpeg espeak-ng libopus0 sox
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench lint register build deploy voice-image system-deps venv clean build-InteractionsFunction build-WorkerFunction \
	build-WatcherFunction build-OpenAIWebhookFunction

run: system-deps venv
	$(PY) -m infra.local_stack $(ARGS)

test: system-deps venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(PY) -m pytest

bench: system-deps venv
	$(PY) -m tests.bench

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The cloud: sam build + sam deploy (guided the first time), commands, endpoint URL, invite link, endpoint check
# (README, "Deploying"). ARCH=x86_64 for Intel/AMD functions; VOICE_IMAGE=<uri> (from make voice-image) adds voice;
# VOICE_SHARDS=2..4 runs that many voice worker shards (needed once the bot is in 2,500 servers).
build: venv
	$(VENV)/bin/sam build --parameter-overrides Architecture=$(ARCH)

deploy: venv
	$(PY) -m infra.deploy --arch $(ARCH) $(if $(VOICE_IMAGE),--voice-image $(VOICE_IMAGE)) \
		$(if $(VOICE_SHARDS),--voice-shards $(VOICE_SHARDS)) $(ARGS)

# Build the voice worker's image for ARCH and push it to the stack's ECR repository (needs docker).
voice-image: venv
	$(PY) -m infra.deploy voice-image --arch $(ARCH)

# Bulk-overwrite the application's commands (see README, "Registering commands").
register: venv
	$(PY) -m infra.register_commands $(ARGS)

# apt only when something is missing; sudo only when not root.
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	ldconfig -p 2>/dev/null | grep -q 'libopus\.so\.0' || missing="$$missing libopus0"; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): requirements-dev.txt functions/*/requirements.txt voice_worker/requirements.txt
	@[ -n "$(PYTHON)" ] || { bash infra/find_python.sh $(PYTHON_VERSION) >/dev/null; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $(STAMP)

# `sam build` runs these (template Metadata: BuildMethod makefile; samconfig.toml builds in source). Each function
# gets only its own code and dependencies, as wheels for the python3.13 runtime on Amazon Linux 2023 (glibc 2.34)
# and the chosen architecture. sam passes only ARTIFACTS_DIR to make, so the architecture comes from the
# environment: LAMBDA_ARCHITECTURE, which `make build`/`make deploy` set from ARCH (default arm64, as the template).
LAMBDA_MACHINE = $(if $(filter x86_64,$(LAMBDA_ARCHITECTURE)),x86_64,$(if $(filter arm64,$(LAMBDA_ARCHITECTURE)),aarch64,$(error LAMBDA_ARCHITECTURE must be arm64 or x86_64, not '$(LAMBDA_ARCHITECTURE)')))
LAMBDA_PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
	--platform manylinux_2_34_$(LAMBDA_MACHINE) --platform manylinux_2_28_$(LAMBDA_MACHINE) \
	--platform manylinux2014_$(LAMBDA_MACHINE) --implementation cp --python-version $(PYTHON_VERSION) \
	--target "$(ARTIFACTS_DIR)"
LAMBDA_COPY = $(PYTHON) infra/package_lambda.py "$(ARTIFACTS_DIR)"

build-InteractionsFunction:
	$(LAMBDA_PIP) -r functions/interactions/requirements.txt
	$(LAMBDA_COPY) functions/__init__.py functions/interactions shared

build-WorkerFunction:
	$(LAMBDA_PIP) -r functions/worker/requirements.txt
	$(LAMBDA_COPY) functions/__init__.py functions/worker shared

build-WatcherFunction build-OpenAIWebhookFunction:
	$(LAMBDA_PIP) -r functions/watcher/requirements.txt
	$(LAMBDA_COPY) functions/__init__.py functions/watcher shared

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache .hypothesis
