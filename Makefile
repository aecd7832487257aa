# tiktok-capi — one command surface, the same locally and in CI.
# Every target creates/refreshes the virtual environment it needs (.venv).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create the virtual environment and install everything

.PHONY: run
run: $(STAMP) ## Run the embedded demo: broker + TikTok emulator + consumer, on a sample storefront dataset
	@# The compiled hot path, as the Docker image ships it, where this machine can build it.
	@if $(PY) -m tools.compile_mapping >/dev/null 2>.build-compile.err; then \
	  rm -f .build-compile.err; \
	  PYTHONSAFEPATH=1 PYTHONPATH=.build/compiled:. $(VENV)/bin/tiktok-capi demo; \
	else \
	  echo "make run: pure Python ($$(tail -n 1 .build-compile.err | sed 's/^compile_mapping: //'))"; \
	  rm -f .build-compile.err; \
	  $(VENV)/bin/tiktok-capi demo; \
	fi

.PHONY: test
test: lint typecheck pytest ## Run the whole test suite: ruff, mypy --strict, pytest

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: fmt
fmt: $(STAMP) ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: typecheck
typecheck: $(STAMP) ## mypy --strict on mapping/ and consumer/
	$(PY) -m tools.typecheck

# Most integration tests wait on the broker's group join and on the faults they hold, not on the
# CPU: three pytest workers (each with its own broker) keep 2 cores busy. PYTEST_WORKERS=0: serial.
PYTEST_WORKERS ?= 3

.PHONY: pytest
pytest: $(STAMP) ## pytest (unit + integration against a real broker and the emulator), PYTEST_WORKERS=3 in parallel
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

.PHONY: soak
soak: $(STAMP) ## The fault matrix at the issue's durations (60 s outage, 20 s broker cuts, more kills), outside make test
	TIKTOK_CAPI_SOAK=1 $(PY) -m pytest -q -p no:cacheprovider tests/faults

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	@touch $(BENCH_STAMP)

.PHONY: bench
bench: $(BENCH_STAMP) ## Benchmark suite (docs/performance.md): table + bench/results.json; ARGS="--only e2e,latency --records 200000"
	$(PY) -m bench $(ARGS)

.PHONY: bench-quick
bench-quick: $(BENCH_STAMP) ## Every benchmark scenario at tiny sizes, in about a minute (checks it runs; figures meaningless)
	$(PY) -m bench --quick --out .build/bench-quick/results.json --plot .build/bench-quick/cost_curves.png $(ARGS)

.PHONY: bench-profile
bench-profile: $(BENCH_STAMP) ## py-spy profile of one end-to-end drain (pure Python): our hot spots and their CPU share
	$(PY) -m bench --only e2e --builds pure --repeat 1 --profile .build/profile/stacks.txt $(ARGS)

.PHONY: bench-hash-cache
bench-hash-cache: $(STAMP) ## The user-data hash cache: CPU per event on and off, on a repeating and a unique stream
	$(PY) -m bench.hash_cache

.PHONY: bench-mapping
bench-mapping: $(STAMP) ## Mapping throughput (events/s, one core), pure Python then compiled
	$(PY) -m bench.mapping
	$(PY) -m tools.compile_mapping >/dev/null
	PYTHONSAFEPATH=1 PYTHONPATH=.build/compiled:. $(PY) -m bench.mapping

.PHONY: bench-emulator
bench-emulator: $(STAMP) ## Emulator throughput (events/s accepted in 1,000-event requests)
	$(PY) -m bench.emulator

.PHONY: bench-e2e
bench-e2e: $(STAMP) ## End to end: 200,000 events from a pre-filled topic to the emulator (events/s, peak RSS)
	$(PY) -m bench.e2e --compiled --repeat 3

.PHONY: clean
clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build .build *.egg-info

.PHONY: compile
compile: $(STAMP) ## Compile the hot path with mypyc into .build/compiled (make run uses it; docs/architecture.md)
	$(PY) -m tools.compile_mapping --out .build/compiled
