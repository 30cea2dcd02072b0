# The two commands a newcomer needs: `make run` (the local stack) and `make test` (everything CI checks).
# Both set themselves up on a fresh machine: system packages (apt), a virtual environment, pinned dependencies.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := ffmpeg espeak-ng libopus0 sox
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench lint register system-deps venv clean build-InteractionsFunction build-WorkerFunction \
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
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (the Lambda runtime is Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $(STAMP)

# `sam build` runs these (template Metadata: BuildMethod makefile; samconfig.toml builds in source). Each function
# gets only its own code and dependencies, as manylinux2014 wheels for the python3.11 runtime (Amazon Linux 2).
LAMBDA_PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
	--platform manylinux2014_x86_64 --implementation cp --python-version 3.11 --target "$(ARTIFACTS_DIR)"
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
