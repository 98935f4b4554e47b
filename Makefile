# Two entry points, each creating .venv from nothing when needed:
#   make demo   the main job: demo catalogue, SQLite under ./var, the packaged model, explained matches
#   make test   the whole test suite (unit, real model, real data when ../shared/data is present)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Maillage needs Python 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# torch first and pinned: the CPU build; an open range would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/maillage demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not model and not realdata and not browser and not ray"

lint: $(STAMP)
	$(BIN)/ruff check matcher indexes training service eval tests

typecheck: $(STAMP)
	$(BIN)/mypy matcher indexes training service eval
	$(BIN)/mypy --strict indexes matcher

clean:
	rm -rf $(VENV) var
