# jwst1f: two commands on a fresh machine -- `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.jwst1f-installed
CORES  ?= 2

.PHONY: install demo test test-fast test-slurm lint format bench clean

# Create the virtual environment if missing and install the project with every extra.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[workflow,test]"
	@touch $(STAMP)

install: $(STAMP)

## Run the main job on the embedded, simulated demo programme (offline).
demo: $(STAMP)
	CORES=$(CORES) PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

## Run every test, the slow end-to-end ones included (CI runs this, then `make test-slurm`).
## The tests that need a SLURM cluster are `make test-slurm`, which brings one up and down.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slurm" tests

## Unit tests only (seconds).
test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -m "not slow and not slurm" tests

## Bring up a single-node SLURM cluster, run the demo through it, compare, shut it down.
test-slurm: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/slurm/test-slurm.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/snakefmt --check workflow

format: $(STAMP)
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/ruff check --fix src tests scripts benchmarks
	$(BIN)/snakefmt workflow

bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_destripe.py --bias-seeds 2,3,4,5,6,7 --write benchmarks/RESULTS.md

clean:
	rm -rf results resources .snakemake .pytest_cache
