# The README's two set-up commands: `make book` and `make test`. Both create .venv first.
PROFILE ?= params/default.yaml
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: book test test-fast lab run clean

$(STAMP): pyproject.toml tools/install.sh
	bash tools/install.sh $(VENV)
	touch $(STAMP)

## make book: generate the default in-silico cohort, execute every notebook, build the book
book: $(STAMP)
	$(PY) -m helpers.run $(PROFILE)

## make run PROFILE=params/x.yaml: execute the notebooks without building the book
run: $(STAMP)
	$(PY) -m helpers.run $(PROFILE) --no-book

## make test: the whole test suite (unit tests, notebook smoke run, strict book build)
test: $(STAMP)
	$(PY) -m pytest

## make test-fast: unit tests only
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

## make lab: JupyterLab on the notebooks
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf _build runs
