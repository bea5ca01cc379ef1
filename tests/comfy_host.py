"""Drive a real ComfyUI host from tests and scripts: the folder ``$SAFESTEER_COMFYUI`` names, else
``.comfyui/`` (0.3.75; ``make test`` also installs 0.33.0 into ``.comfyui-0.33/`` and runs the suite
once per host, see scripts/test_matrix.sh).

Two ways to run graphs:

* :class:`InProcessHost` imports ComfyUI into this Python process the way ``main.py`` does (CPU, a
  private base directory, custom nodes loaded by ComfyUI's own loader) and executes prompts with
  ComfyUI's ``validate_prompt`` and ``PromptExecutor``. One per process: ComfyUI keeps global state
  (``nodes.NODE_CLASS_MAPPINGS``, ``folder_paths``, ``PromptServer.instance``), so create it once per
  test session.
* :class:`ComfyServer` starts ``main.py`` as a subprocess (HTTP on a free loopback port) and talks
  to it over ``/object_info``, ``/prompt`` and ``/history``.

Both use a base directory made by :func:`make_base_dir`, whose ``custom_nodes/`` holds symlinks to
the SafeSteer pack (this repository) and to the test-only pack ``tests/tiny_host_pack``.

Nothing here copies or imitates ComfyUI code: every graph runs through the real host.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
TINY_PACK_DIR = TESTS_DIR / "tiny_host_pack"
#: Folder names under ``<base>/custom_nodes`` (ComfyUI reports them as ``custom_nodes.<name>``).
PACK_NAME = "safesteer"
TESTKIT_NAME = "safesteer_testkit"

_INSTALL_HINT = ("run `make comfyui` (it installs ComfyUI 0.3.75 into .comfyui/ and 0.33.0 into .comfyui-0.33/ with "
                 "scripts/install_comfyui.sh), or point $SAFESTEER_COMFYUI at a ComfyUI folder")


class ComfyNotInstalled(RuntimeError):
    """The ComfyUI host folder is missing or incomplete."""


class HostError(RuntimeError):
    """The host did something a test did not expect (failed start, failed prompt...)."""


def comfy_dir() -> Path:
    """The ComfyUI folder: ``$SAFESTEER_COMFYUI`` or ``<repo>/.comfyui``; raises if it is not installed."""
    path = Path(os.environ.get("SAFESTEER_COMFYUI") or REPO_ROOT / ".comfyui").resolve()
    missing = [name for name in ("main.py", "nodes.py", "execution.py", "comfy", "comfy_api") if not (path / name).exists()]
    if missing:
        raise ComfyNotInstalled(f"no ComfyUI host at {path} (missing {', '.join(missing)}): {_INSTALL_HINT}.")
    return path


def host_python() -> str:
    """The interpreter that has the host's requirements: the one scripts/install_comfyui.sh recorded in
    ``<host>/.host-python`` (each host has its own venv), else this one."""
    record = comfy_dir() / ".host-python"
    if record.is_file():
        recorded = Path(record.read_text().strip())
        if recorded.exists():
            return str(recorded)
    return sys.executable


def host_version() -> str:
    """The host's ComfyUI version (``comfyui_version.py``), for labels such as screenshot folders only:
    host behaviour is never chosen by comparing it."""
    text = (comfy_dir() / "comfyui_version.py").read_text() if (comfy_dir() / "comfyui_version.py").exists() else ""
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    return match.group(1) if match else comfy_dir().name


def host_out_dir(*parts: str) -> Path:
    """``out/<parts...>/<host version>/``: per-host output folders, so the matrix's parallel runs never
    write the same file."""
    path = REPO_ROOT.joinpath("out", *parts, host_version())
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_base_dir(
    root: str | os.PathLike[str],
    *,
    pack_dir: str | os.PathLike[str] | None = REPO_ROOT,
    testkit_dir: str | os.PathLike[str] | None = TINY_PACK_DIR,
    extra_packs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Path:
    """Create a ComfyUI base directory (``--base-directory``) under ``root`` and return its path.

    It holds ``models/``, ``input/``, ``output/``, ``temp/``, ``user/`` and ``custom_nodes/`` with
    symlinks ``safesteer`` -> ``pack_dir`` (the SafeSteer pack, i.e. this repository) and
    ``safesteer_testkit`` -> ``testkit_dir`` (``tests/tiny_host_pack``); pass ``None`` to leave one
    out, and ``extra_packs`` ({folder name: path}) to add others.
    """
    base = Path(root).resolve()
    for sub in ("models", "input", "output", "temp", "user", "custom_nodes"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    packs: dict[str, str | os.PathLike[str]] = {}
    if pack_dir is not None:
        packs[PACK_NAME] = pack_dir
    if testkit_dir is not None:
        packs[TESTKIT_NAME] = testkit_dir
    packs.update(extra_packs or {})
    for name, target in packs.items():
        link = base / "custom_nodes" / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(target).resolve(), target_is_directory=True)
    return base


# --------------------------------------------------------------------------------------------
# In-process host
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What one prompt did in the host.

    ``outputs``: {node id: ui dict} (ComfyUI's ``history_result["outputs"]``); ``node_errors``:
    validation errors per node ({node id: {"errors": [...], ...}}); ``error``: the prompt-level
    validation error dict, or the ``execution_error`` message data (``node_id``, ``node_type``,
    ``exception_type``, ``exception_message``, ``traceback``); ``messages``: the executor's status
    messages as (event, data) pairs.
    """

    prompt_id: str
    success: bool
    valid: bool
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_errors: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def error_message(self) -> str:
        """A one-string summary of what went wrong ('' on success): exception or validation messages."""
        parts: list[str] = []
        if self.error:
            for key in ("exception_message", "message", "details"):
                if self.error.get(key):
                    parts.append(str(self.error[key]))
        for node_id, info in self.node_errors.items():
            for err in info.get("errors", []):
                parts.append(f"node {node_id} ({info.get('class_type', '?')}): {err.get('message', '')}: {err.get('details', '')}")
        return "\n".join(parts)

    @property
    def error_node(self) -> str | None:
        """The id of the node whose execution failed (None if none did)."""
        return None if not self.error else self.error.get("node_id")

    def ui(self, node_id: str | int) -> dict[str, Any]:
        """The ui dict one output node returned (KeyError with the available ids if it returned none)."""
        key = str(node_id)
        if key not in self.outputs:
            raise KeyError(f"node {key} produced no ui output; outputs: {sorted(self.outputs)}; {self.error_message}")
        return self.outputs[key]

    def raise_for_error(self) -> RunResult:
        if not self.success:
            tb = (self.error or {}).get("traceback")
            extra = "\n" + "".join(tb) if isinstance(tb, list) else ""
            raise HostError(f"prompt {self.prompt_id} failed: {self.error_message}{extra}")
        return self


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except (TypeError, ValueError):  # pragma: no cover - a malformed record must not break the host
            self.lines.append(str(record.msg))


_IMPORT_FAILED_RE = re.compile(r"^\s*[\d.]+ seconds \(IMPORT FAILED\): (?P<path>.+)$")

_ACTIVE_HOST: InProcessHost | None = None


class InProcessHost:
    """A real ComfyUI imported into this process (CPU), with custom nodes from ``base_dir``.

    Attributes after construction:
      ``nodes``: ComfyUI's ``nodes`` module; ``node_class_mappings`` (= ``nodes.NODE_CLASS_MAPPINGS``);
      ``execution``, ``server`` modules; ``prompt_server`` (``server.PromptServer.instance``);
      ``import_failures``: module names/paths ComfyUI failed to import (built-in ``comfy_extras`` files
      as returned by ``nodes.init_extra_nodes`` and custom-node paths from the loader's
      ``(IMPORT FAILED)`` report -- 0.3.75 records custom-node failures only in its log);
      ``custom_node_import_failures`` (only the latter); ``init_log``: ComfyUI's log lines during the
      node import; ``init_seconds``.

    Only one can exist per process (ComfyUI's state is global).

    ``threads``: torch intra-op threads while a prompt runs (restored afterwards; None leaves torch
    alone). Tiny graphs are dominated by per-op overhead, and on a busy 2-core machine one thread
    was 5-30x faster than two; float results can depend on the thread count, so compare runs made
    with the same setting.
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, init_custom_nodes: bool = True, threads: int | None = 1):
        global _ACTIVE_HOST
        if _ACTIVE_HOST is not None:
            raise HostError("an InProcessHost already exists in this process; ComfyUI's state is global: reuse it")
        t0 = time.perf_counter()
        self.comfy_dir = comfy_dir()
        self.base_dir = Path(base_dir).resolve()
        self.threads = threads
        self._cached_executor: Any = None
        self._bootstrap()
        import execution
        import server

        import nodes

        self.nodes = nodes
        self.execution = execution
        self.server = server
        self.node_class_mappings = nodes.NODE_CLASS_MAPPINGS
        self.loop = asyncio.new_event_loop()
        self.prompt_server = server.PromptServer(self.loop)

        capture = _LogCapture()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(capture)
        root.setLevel(min(old_level, logging.INFO) if old_level else logging.INFO)
        try:
            builtin_failed = self.loop.run_until_complete(
                nodes.init_extra_nodes(init_custom_nodes=init_custom_nodes, init_api_nodes=False)
            )
        finally:
            root.removeHandler(capture)
            root.setLevel(old_level)
        self.init_log = capture.lines
        self.custom_node_import_failures = [
            m.group("path") for line in self.init_log for m in [_IMPORT_FAILED_RE.match(line)] if m
        ]
        self.import_failures = list(builtin_failed or []) + self.custom_node_import_failures
        self.init_seconds = time.perf_counter() - t0
        _ACTIVE_HOST = self

    def _bootstrap(self) -> None:
        comfy = str(self.comfy_dir)
        # ComfyUI's folder first: this repo also has a ``nodes`` package, which must never shadow
        # ComfyUI's ``nodes.py``.
        if comfy in sys.path:
            sys.path.remove(comfy)
        sys.path.insert(0, comfy)
        stale = [m for m in ("nodes", "utils", "folder_paths") if m in sys.modules and not _module_in(sys.modules[m], comfy)]
        if stale:
            raise HostError(f"modules {stale} were imported from outside {comfy} before ComfyUI; import order is wrong")
        from comfy.cli_args import args

        args.cpu = True
        args.base_directory = str(self.base_dir)
        args.disable_api_nodes = True
        args.database_url = f"sqlite:///{self.base_dir / 'user' / 'comfyui.db'}"
        import folder_paths  # noqa: F401  (reads args.base_directory)
        import utils.extra_config  # noqa: F401  (must precede `import nodes`, see comfy-host notes §5)

    # -- running prompts ------------------------------------------------------------------------

    @property
    def node_ids(self) -> list[str]:
        return sorted(self.node_class_mappings)

    def python_module(self, node_id: str) -> str:
        """What ``/object_info`` reports as ``python_module`` for a node (e.g. ``custom_nodes.safesteer``)."""
        cls = self.node_class_mappings[node_id]
        return getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes"

    def validate(self, prompt: Mapping[str, Any], prompt_id: str | None = None) -> tuple[bool, Any, list[str], dict[str, Any]]:
        """ComfyUI's ``execution.validate_prompt``: (valid, error, output node ids, node_errors)."""
        prompt = _normalise_prompt(prompt)
        return self.loop.run_until_complete(self.execution.validate_prompt(prompt_id or str(uuid.uuid4()), prompt, None))

    def run(self, prompt: Mapping[str, Any], *, extra_data: Mapping[str, Any] | None = None, check: bool = False,
            keep_cache: bool = False) -> RunResult:
        """Validate and execute one prompt (API format: {id: {"class_type", "inputs"}}).

        A fresh ``PromptExecutor`` (empty caches) runs every prompt, so running the same graph twice
        really computes it twice; ``keep_cache=True`` runs it on one long-lived executor instead, as a
        server does (nodes whose inputs did not change since the previous such run are not recomputed).
        ``check=True`` raises :class:`HostError` when it did not succeed.
        """
        prompt = _normalise_prompt(prompt)
        prompt_id = str(uuid.uuid4())
        t0 = time.perf_counter()
        valid, error, outputs, node_errors = self.loop.run_until_complete(
            self.execution.validate_prompt(prompt_id, prompt, None)
        )
        if not valid:
            result = RunResult(prompt_id, False, False, node_errors=dict(node_errors or {}), error=error,
                               seconds=time.perf_counter() - t0)
        else:
            executor = self._cached_executor if keep_cache else None
            if executor is None:
                executor = self.execution.PromptExecutor(
                    self.prompt_server,
                    cache_type=self.execution.CacheType.CLASSIC,
                    cache_args={"lru": 0, "ram": 0, "ram_inactive": 0},
                )
                if keep_cache:
                    self._cached_executor = executor
            import torch

            saved_threads = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                self.loop.run_until_complete(executor.execute_async(prompt, prompt_id, dict(extra_data or {}), outputs))
            finally:
                if self.threads:
                    torch.set_num_threads(saved_threads)
            messages = list(executor.status_messages)
            exec_error = next((data for event, data in messages if event in ("execution_error", "execution_interrupted")), None)
            result = RunResult(
                prompt_id,
                bool(executor.success) and exec_error is None,
                True,
                outputs=dict(executor.history_result.get("outputs", {})),
                node_errors=dict(node_errors or {}),
                error=exec_error,
                messages=messages,
                seconds=time.perf_counter() - t0,
            )
        if check:
            result.raise_for_error()
        return result

    def close(self) -> None:
        """Close the event loop. ComfyUI's modules stay imported (they cannot be unloaded)."""
        if not self.loop.is_closed():
            self.loop.close()


def _module_in(module: Any, folder: str) -> bool:
    path = getattr(module, "__file__", None) or ""
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def _normalise_prompt(prompt: Mapping[str, Any]) -> dict[str, Any]:
    """Keys as strings and links as [str id, int slot], the way the frontend sends them."""
    out: dict[str, Any] = {}
    for node_id, node in prompt.items():
        inputs = {}
        for name, value in dict(node.get("inputs", {})).items():
            if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], int) and isinstance(value[0], (str, int)) and not isinstance(value[0], bool):
                value = [str(value[0]), value[1]]
            inputs[name] = value
        out[str(node_id)] = {**dict(node), "inputs": inputs}
    return out


# --------------------------------------------------------------------------------------------
# HTTP server in a subprocess
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ComfyServer:
    """``main.py --cpu --listen 127.0.0.1 --port <free>`` in a subprocess, as a context manager.

    ``with ComfyServer(base_dir) as srv: srv.object_info(); pid = srv.queue(prompt); srv.wait(pid)``.
    Startup waits for ``GET /system_stats`` (``start_timeout`` s: generous, since the host matrix starts
    servers on two hosts at once on a 2-core machine); on failure the log is in the error.
    ``threads`` sets ``OMP_NUM_THREADS`` for the server (see :class:`InProcessHost`; None: inherit).
    The log goes to ``<base>/user/comfyui-server-<port>.log`` (:meth:`log_text`).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        python: str | None = None,
        start_timeout: float = 240.0,
        extra_args: list[str] | None = None,
        threads: int | None = 1,
    ):
        self.comfy_dir = comfy_dir()
        self.base_dir = Path(base_dir).resolve()
        self.port = port or free_port()
        self.python = python or host_python()
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args or [])
        self.threads = threads
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base_dir / "user" / f"comfyui-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client_id = str(uuid.uuid4())
        self.start_seconds = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ComfyServer:
        cmd = [
            self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.base_dir), "--disable-auto-launch",
            "--database-url", f"sqlite:///{self.base_dir / 'user' / 'comfyui.db'}",
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        if self.threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        # Never let the repo root (with its `nodes/` package) be importable ahead of ComfyUI.
        env.pop("PYTHONPATH", None)
        self._log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.comfy_dir, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                self._close_log()
                raise HostError(f"ComfyUI exited with {self.proc.returncode} during start-up:\n{self.log_text()}")
            try:
                self.get_json("/system_stats", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise HostError(f"ComfyUI did not answer /system_stats within {self.start_timeout:.0f} s:\n{self.log_text()}")
            time.sleep(0.25)
        self.start_seconds = time.perf_counter() - t0
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP -----------------------------------------------------------------------------------

    def get_json(self, path: str, timeout: float = 30) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def post_json(self, path: str, payload: Any, timeout: float = 30) -> tuple[int, Any]:
        """POST JSON; returns (status, decoded body) also for 4xx answers."""
        req = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read().decode("utf-8") or "null")
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", errors="replace")
            try:
                return err.code, json.loads(body)
            except json.JSONDecodeError:
                return err.code, body

    def object_info(self, node_id: str | None = None) -> dict[str, Any]:
        """``GET /object_info`` (all nodes) or ``/object_info/<node_id>``."""
        return self.get_json("/object_info" if node_id is None else f"/object_info/{node_id}")

    def queue(self, prompt: Mapping[str, Any]) -> str:
        """``POST /prompt``; returns the prompt id. Raises :class:`HostError` with the node errors on a 4xx."""
        status, body = self.post_json("/prompt", {"prompt": _normalise_prompt(prompt), "client_id": self.client_id})
        if status != 200:
            raise HostError(f"POST /prompt answered {status}: {json.dumps(body, indent=1)[:4000]}")
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll ``/history/<id>`` until the prompt finished; returns its history entry
        (``outputs``, ``status`` {``status_str``, ``completed``, ``messages``}, ``prompt``, ``meta``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.history(prompt_id)
            if entry is not None and entry.get("status", {}).get("status_str") in ("success", "error"):
                return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise HostError(f"ComfyUI exited with {self.proc.returncode} while running {prompt_id}:\n{self.log_text()}")
            time.sleep(0.1)
        raise HostError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_text()[-4000:]}")

    def run(self, prompt: Mapping[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """queue + wait."""
        return self.wait(self.queue(prompt), timeout=timeout)


# --------------------------------------------------------------------------------------------
# Graph builders (API-format prompts) over the test kit's nodes
# --------------------------------------------------------------------------------------------


def tiny_ksampler_graph(
    arch: str,
    *,
    model_seed: int = 0,
    sampler_seed: int = 3,
    steps: int = 2,
    cfg: float = 2.0,
    sampler_name: str = "euler",
    scheduler: str = "simple",
    batch: int = 1,
    tokens: int = 7,
    cond_seeds: tuple[int, int] = (1, 2),
    text: str | None = None,
    negative_text: str = "",
    encoder: str = "clip_l",
    encoder_seed: int = 0,
    context_dim: int = 0,
    pooled_dim: int = 0,
) -> dict[str, dict[str, Any]]:
    """A prompt: tiny MODEL + tiny LATENT + conditioning -> the real ``KSampler`` -> ``SafeSteerTinyLatentStats``.

    Node ids: ``model``, ``latent``, ``pos``, ``neg``, ``sampler``, ``stats`` (plus ``clip`` when
    ``text`` is given: then ``pos``/``neg`` are ``CLIPTextEncode`` nodes over the tiny text encoder
    ``encoder``; otherwise they are ``SafeSteerTinyConditioning`` with seeds ``cond_seeds``).
    To put a node between the model and the sampler: ``g["steer"] = {...}; g["sampler"]["inputs"]["model"] = ["steer", 0]``.
    """
    g: dict[str, dict[str, Any]] = {
        "model": {"class_type": "SafeSteerTinyModel",
                  "inputs": {"arch": arch, "seed": model_seed, "context_dim": context_dim, "pooled_dim": pooled_dim}},
        "latent": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": arch, "batch": batch, "seed": -1}},
    }
    if text is None:
        for key, seed in zip(("pos", "neg"), cond_seeds):
            g[key] = {"class_type": "SafeSteerTinyConditioning",
                      "inputs": {"arch": arch, "seed": seed, "tokens": tokens, "context_dim": context_dim, "pooled_dim": pooled_dim}}
    else:
        g["clip"] = {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": encoder, "seed": encoder_seed}}
        g["pos"] = {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["clip", 0]}}
        g["neg"] = {"class_type": "CLIPTextEncode", "inputs": {"text": negative_text, "clip": ["clip", 0]}}
    g["sampler"] = {"class_type": "KSampler", "inputs": {
        "model": ["model", 0], "seed": sampler_seed, "steps": steps, "cfg": cfg, "sampler_name": sampler_name,
        "scheduler": scheduler, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0], "denoise": 1.0}}
    g["stats"] = {"class_type": "SafeSteerTinyLatentStats", "inputs": {"latent": ["sampler", 0]}}
    return g
