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
# A real ComfyUI host (0.3.75) for the host tests and the demo, installed into the venv's site-packages
# plus the .comfyui/ folder (git-ignored). See scripts/install_comfyui.sh and tests/comfy_host.py.
COMFY_DIR := .comfyui
COMFY_STAMP := $(COMFY_DIR)/.installed
# Debian's Chromium for the browser tests (tests/test_ui_*.py), driven by Playwright from the venv.
CHROMIUM_STAMP := $(VENV)/.chromium-stamp

.PHONY: test test-ui demo bench bench-gpu deps comfyui chromium clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) "torch==$(TORCH_VERSION)"
	echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	$(PIP) -c $(VENV)/constraints.txt -e ".[test]"
	@$(PY) -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

$(COMFY_STAMP): scripts/install_comfyui.sh $(DEPS_STAMP)
	bash scripts/install_comfyui.sh $(COMFY_DIR) $(PY) $(FIND_LINKS)
	touch $@

$(CHROMIUM_STAMP): scripts/install_chromium.sh | $(PY)
	bash scripts/install_chromium.sh
	touch $@

deps: $(DEPS_STAMP)

chromium: $(CHROMIUM_STAMP)

comfyui: $(COMFY_STAMP)

# Run pytest by its script, never `python -m pytest`: that puts the repo root on sys.path, where the
# pack's `nodes/` package would shadow ComfyUI's `nodes.py`.
# `make test` runs everything, the browser suite included; `make test-ui` runs only the browser suite
# (screenshots in out/ui/).
test: $(DEPS_STAMP) $(COMFY_STAMP) $(CHROMIUM_STAMP)
	$(VENV)/bin/pytest

test-ui: $(DEPS_STAMP) $(COMFY_STAMP) $(CHROMIUM_STAMP)
	$(VENV)/bin/pytest tests/test_ui_*.py

demo: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) scripts/demo_comfy.py --out out/demo

bench: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) bench/run_all.py

# Every benchmark on CUDA in bf16 and fp16 at FLUX.1's size, cross-checked against the CPU; writes
# bench/results-gpu.json. Needs a CUDA build of torch in the venv (this Makefile installs the CPU one).
bench-gpu: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) bench/run_all.py --device cuda --dtypes bf16,fp16 --scale flux

clean:
	rm -rf $(VENV) $(COMFY_DIR) out .pytest_cache *.egg-info
