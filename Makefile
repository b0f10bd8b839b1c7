# devscore: `make demo` publishes and serves a generated region; `make test` runs the test suite.
# Every target installs what it needs into .venv (and node_modules) first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
#: the optional dependency groups a development install has (pyproject.toml's extras; gpu needs CUDA)
EXTRAS := mpi,server,ml,nightlights,pgstac,test
COMMA := ,

VALIDATOR_STAMP := .venv-validator/.installed
NODE_STAMP := node_modules/.installed
CHROMIUM := /usr/bin/chromium
QGIS := /usr/lib/python3/dist-packages/qgis/core/__init__.py
STAC_BROWSER := .cache/stac-browser/dist/index.html
WRK := /usr/bin/wrk

.PHONY: setup lock web demo test test-fast bench gpu-check serve clean

setup: $(STAMP)

# Front end: MapLibre for the map page, playwright-core and STAC Browser for the browser tests.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Debian's Chromium for the headless browser tests (playwright's own browser download is blocked).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# Debian's QGIS 3.22 (PyQGIS under /usr/bin/python3) and GDAL's tools for the client tests (tests/test_qgis.py,
# ogrinfo on the chips); about a minute the first time.
$(QGIS):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-qgis qgis-providers gdal-bin

# Debian's wrk, the HTTP load generator of the server benchmarks (a Python client would take a third of
# the 2 cores the servers are measured on).
$(WRK):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk

$(STAC_BROWSER): $(NODE_STAMP)
	bash scripts/build_stac_browser.sh

web: $(NODE_STAMP) $(CHROMIUM) $(STAC_BROWSER)

# stac-api-validator lives in its own venv: its pins clash with the server's.
$(VALIDATOR_STAMP):
	test -x .venv-validator/bin/python || $(PYTHON) -m venv .venv-validator
	.venv-validator/bin/pip install -q 'stac-api-validator==0.6.8'
	touch $(VALIDATOR_STAMP)

# Dependencies come from requirements.lock (exact versions with hashes), so a release on PyPI
# cannot change what a fresh machine runs; devscore itself is then installed without dependencies.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve requirements.lock after a change to pyproject.toml's dependencies. Pins already in the
# lock are kept where they still fit; `make lock UPGRADE=1` moves every package to its newest release.
LOCK_TOOL := .venv-lock/bin/pip-compile
LOCK_EXTRAS := $(foreach e,$(subst $(COMMA), ,$(EXTRAS)),--extra $(e))
lock:
	test -x $(LOCK_TOOL) || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q 'pip-tools==7.6.2')
	$(LOCK_TOOL) -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
		$(if $(UPGRADE),--upgrade) $(LOCK_EXTRAS) -o requirements.lock pyproject.toml

demo: setup $(NODE_STAMP)
	$(BIN)/python -m devscore.demo --out $(DEMO_DIR) --host $(HOST) --port $(PORT)

test: setup $(VALIDATOR_STAMP) web $(QGIS)
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

test-fast: setup $(VALIDATOR_STAMP) web $(QGIS)
	$(BIN)/python -m pytest -ra -m "not slow" $(PYTEST_ARGS)

bench: setup $(NODE_STAMP) $(WRK)
	$(BIN)/python -m bench.run --out bench/RESULTS.md

gpu-check: setup
	$(BIN)/python -m bench.gpu_check --out bench/GPU.md

serve: setup $(NODE_STAMP)
	$(BIN)/devscore serve --catalog $(DEMO_DIR)/catalog --host $(HOST) --port $(PORT)

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build *.egg-info .venv-validator .cache node_modules
