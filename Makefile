# helmforge — the two commands are `make run` and `make test`; both bootstrap .venv themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run example test lint bench lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Starts the server (API and web UI) on http://127.0.0.1:8000; the first start prints an admin
# login with a generated password that must be changed at the first sign-in.
run: setup
	$(VENV)/bin/helmforge serve --host 127.0.0.1 --port 8000

# Generates the bundled example template for a sample context and packages it.
example: setup
	@chart=$$($(VENV)/bin/helmforge generate examples/templates/web-service.yaml --product shop \
		--customer acme --environment prod --instance demo --version 1.0.0 \
		--out build/example --package) && $(VENV)/bin/helmforge lint "$$chart" >/dev/null && \
		echo "example chart (linted): $$chart"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Installs the Debian packages the tests start on loopback when run as root (else names the
# apt-get line), then lint, then the whole suite; the 20 slowest tests are reported.
test: lint
	@scripts/install-test-packages
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=20

bench: setup
	$(PY) -m benchmarks

# Regenerates requirements.lock from pyproject.toml (needs network access to PyPI).
lock: setup
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra kube --generate-hashes \
		--python-version 3.12 --quiet -o requirements.lock

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
