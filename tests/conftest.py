"""Shared fixtures: the real all-MiniLM-L6-v2 encoder (loaded once per session)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --------------------------------------------------------------------------------------------
# The host matrix (scripts/test_matrix.sh) runs the suite once per ComfyUI host. Modules marked
# ``pytestmark = pytest.mark.host_independent`` never start ComfyUI, so the matrix runs each of them on
# one host only: SAFESTEER_INDEPENDENT_SHARD="i/n" keeps the host-independent modules whose sorted index
# is i mod n (the rest run in the other host's process). Host tests always run on every host.
# --------------------------------------------------------------------------------------------

#: Every host fixture (comfy, host, tm, te, ui_server, ...) depends on one of these.
HOST_FIXTURES = frozenset({"comfy_base", "ui_server"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "host_independent: the module never starts ComfyUI; the host matrix runs it on one host")


def independent_shard(value: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise pytest.UsageError(f"SAFESTEER_INDEPENDENT_SHARD={value!r}: expected 'i/n', e.g. '0/2'") from None
    if not 0 <= index < count:
        raise pytest.UsageError(f"SAFESTEER_INDEPENDENT_SHARD={value!r}: need 0 <= i < n")
    return index, count


def shard_modules(modules: set[str] | frozenset[str], index: int, count: int) -> set[str]:
    """The module names shard ``index`` of ``count`` keeps: those whose index in sorted order is ``index`` mod ``count``."""
    return {name for k, name in enumerate(sorted(modules)) if k % count == index}


def pytest_report_header(config: pytest.Config) -> str | None:
    value = os.environ.get("SAFESTEER_INDEPENDENT_SHARD")
    if value:
        return f"host-independent modules: shard {value} of the host matrix (the others run on the other host)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misfiled = sorted({item.nodeid for item in items
                       if item.get_closest_marker("host_independent") and HOST_FIXTURES & set(getattr(item, "fixturenames", ()))})
    if misfiled:
        raise pytest.UsageError("marked host_independent but they start ComfyUI (remove the mark): " + ", ".join(misfiled))
    value = os.environ.get("SAFESTEER_INDEPENDENT_SHARD")
    if not value:
        return
    index, count = independent_shard(value)
    modules = {item.path.name for item in items if item.get_closest_marker("host_independent")}
    elsewhere = modules - shard_modules(modules, index, count)
    keep = [item for item in items if item.path.name not in elsewhere]
    dropped = [item for item in items if item.path.name in elsewhere]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


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


# --------------------------------------------------------------------------------------------
# The real web frontend in Debian's Chromium (tests/test_ui_*.py); see tests/ui_driver.py.
# --------------------------------------------------------------------------------------------

#: A direction of a width no tiny or real model has, for the friendly-failure test in the UI.
UI_WRONG_SIZE_DIRECTION = "wrong_size_77.safetensors"


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory):
    """ComfyUI's HTTP server (``main.py``) with the pack and the test kit, serving the real frontend."""
    import torch
    from comfy_host import ComfyServer, make_base_dir
    from ui_driver import write_frontend_settings

    from steering_core import SafetyDirection

    base = make_base_dir(tmp_path_factory.mktemp("ui-base"))
    write_frontend_settings(base)
    folder = base / "models" / "safety_directions"
    folder.mkdir(parents=True, exist_ok=True)
    SafetyDirection.from_vectors(torch.ones(1, 77), ["global"], source_model="wrong-size-77").save(folder / UI_WRONG_SIZE_DIRECTION)
    with ComfyServer(base, threads=1) as server:
        yield server


@pytest.fixture(scope="module")
def ui_browser():
    """The system Chromium under Playwright, one per test module: Playwright's sync API keeps an event
    loop running in this thread while it is open, which the in-process host's own loop cannot share,
    so it must be closed before the next module's in-process tests."""
    from playwright.sync_api import sync_playwright
    from ui_driver import launch_chromium

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


@pytest.fixture()
def frontend(ui_server, ui_browser):
    """A fresh page on the frontend (its own graph and event log); closed after the test."""
    from ui_driver import Frontend

    page = Frontend(ui_browser, ui_server.url)
    yield page
    page.close()
