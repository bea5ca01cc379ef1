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


@pytest.fixture(scope="module")
def host(comfy):
    """The in-process host under the name the DiT/SAE host tests use."""
    return comfy


@pytest.fixture(scope="module")
def tm(comfy):
    """tiny_host_pack.tiny_models (importable once the host has loaded the test pack)."""
    import tiny_host_pack.tiny_models as tiny_models

    return tiny_models


@pytest.fixture(scope="module")
def te(comfy):
    """tiny_host_pack.tiny_text_encoders (tiny ComfyUI CLIPs and the real MiniLM in ComfyUI's BERT)."""
    import tiny_host_pack.tiny_text_encoders as tiny_text_encoders

    return tiny_text_encoders


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of small matmuls: extra threads only contend with other processes
    on a small shared machine. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
