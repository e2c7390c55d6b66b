# The README's two set-up commands: `make book` and `make test`. Both create .venv first.
PROFILE ?= params/default.yaml
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: book paper test test-fast lint lab run clean

$(STAMP): pyproject.toml tools/install.sh
	bash tools/install.sh $(VENV)
	touch $(STAMP)

## make book: generate the default in-silico cohort, execute every notebook, build the book
book: $(STAMP)
	$(PY) -m helpers.run $(PROFILE)

## make paper: the whole book at the paper's sizes (params/paper.yaml); needs a CUDA GPU, refuses at once without
paper: $(STAMP)
	$(PY) -m helpers.run params/paper.yaml

## make run PROFILE=params/x.yaml: execute the notebooks without building the book
run: $(STAMP)
	$(PY) -m helpers.run $(PROFILE) --no-book

## make test: the whole test suite (unit tests, notebook smoke run, strict book build, the browser check);
## installs Chromium first when it can (tools/install_chromium.sh), or says in one line what to install
test: $(STAMP)
	bash tools/install_chromium.sh
	$(PY) -m pytest

## make lint: ruff (lint + format) over the code and notebooks, mypy over src/; a failure names the fixing command
lint: $(STAMP)
	@$(VENV)/bin/ruff check src tests benchmarks tools notebooks \
		|| { echo "[lint] fix: .venv/bin/ruff check --fix src tests benchmarks tools notebooks"; exit 1; }
	@$(VENV)/bin/ruff format --check src tests benchmarks tools notebooks \
		|| { echo "[lint] fix: .venv/bin/ruff format src tests benchmarks tools notebooks"; exit 1; }
	@$(VENV)/bin/mypy \
		|| { echo "[lint] fix the type errors above, then re-run: .venv/bin/mypy"; exit 1; }

## make test-fast: unit tests only
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

## make lab: JupyterLab on the notebooks
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf _build runs
