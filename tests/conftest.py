"""Shared fixtures: the real all-MiniLM-L6-v2 encoder (loaded once per session)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm():
    from steering_core.encoders import TransformersEncoder

    return TransformersEncoder.minilm()


# --------------------------------------------------------------------------------------------
# A real ComfyUI host (installed into .comfyui/ by `make test`); see tests/comfy_host.py.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def comfy_base(tmp_path_factory: pytest.TempPathFactory):
    """A ComfyUI base directory whose custom_nodes/ links the SafeSteer pack and the tiny test pack."""
    from comfy_host import make_base_dir

    return make_base_dir(tmp_path_factory.mktemp("comfy-base"))


@pytest.fixture(scope="session")
def comfy(comfy_base):
    """The in-process ComfyUI host (comfy_host.InProcessHost), created once per test session."""
    from comfy_host import ComfyNotInstalled, InProcessHost

    try:
        host = InProcessHost(comfy_base)
    except ComfyNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    yield host
    host.close()
