# SafeSteer: `make test` and `make demo` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
# The CPU build of torch is served from /opt/wheels on these machines; a plain `pip install torch`
# would pull the CUDA build and several GB of nvidia packages, so torch is pinned by a constraint.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP := $(PY) -m pip install --disable-pip-version-check -q $(FIND_LINKS)
DEPS_STAMP := $(VENV)/.deps-stamp

.PHONY: test demo bench deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) "torch==$(TORCH_VERSION)"
	echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	$(PIP) -c $(VENV)/constraints.txt -e ".[test]"
	@$(PY) -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

deps: $(DEPS_STAMP)

test: $(DEPS_STAMP)
	$(PY) -m pytest

demo: $(DEPS_STAMP)
	$(PY) -m steering_core.demo --out out/demo

bench: $(DEPS_STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache *.egg-info
