"""A small ComfyUI HTTP client (standard library only): queue a prompt, wait for it, fetch its images.

Endpoints: ``GET /system_stats`` (is it up), ``POST /prompt`` (``{"prompt", "client_id"}`` ->
``{"prompt_id"}``; HTTP 400 with ``node_errors`` when the graph does not validate),
``GET /history/<prompt_id>`` (polled until ``status.status_str`` is ``success`` or ``error``),
``GET /view?filename=&subfolder=&type=`` (the bytes of an output image).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import PromptFailed, ServerUnavailable, TemplateRejected

_NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError)


def normalise_address(address: str) -> str:
    """``127.0.0.1:8188`` / ``http://host:8188/`` -> ``http://host:8188``."""
    address = address.strip().rstrip("/")
    if not address:
        raise ValueError("empty server address")
    if "://" not in address:
        address = "http://" + address
    return address


@dataclass
class ImageRef:
    """One image a node reported in its ``ui`` output."""

    node: str
    filename: str
    subfolder: str = ""
    type: str = "output"

    def query(self) -> str:
        return urllib.parse.urlencode({"filename": self.filename, "subfolder": self.subfolder, "type": self.type})


@dataclass
class PromptOutcome:
    """What one queued prompt produced: its id, the images (bytes, in node then list order), seconds."""

    prompt_id: str
    images: list[tuple[ImageRef, bytes]] = field(default_factory=list)
    seconds: float = 0.0


class ComfyClient:
    """Talks to one ComfyUI server. Thread-safe counters: :attr:`posted` counts ``POST /prompt`` calls."""

    def __init__(self, address: str, *, timeout: float = 30.0, poll_interval: float = 0.1):
        self.url = normalise_address(address)
        self.address = self.url.split("://", 1)[1]
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.client_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self.posted = 0

    def __repr__(self) -> str:
        return f"ComfyClient({self.url!r})"

    # -- raw HTTP -----------------------------------------------------------------------------------

    def _open(self, req: urllib.request.Request | str, timeout: float | None = None) -> bytes:
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError:
            raise
        except _NETWORK_ERRORS as exc:
            raise ServerUnavailable(f"ComfyUI at {self.url} does not answer: {exc}") from exc

    def get_json(self, path: str) -> Any:
        try:
            return json.loads(self._open(self.url + path).decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise ServerUnavailable(f"GET {self.url}{path} answered HTTP {exc.code}") from exc
        except json.JSONDecodeError as exc:
            raise ServerUnavailable(f"GET {self.url}{path} did not answer JSON; is this a ComfyUI server?") from exc

    def system_stats(self) -> dict[str, Any]:
        return self.get_json("/system_stats")

    # -- prompts ------------------------------------------------------------------------------------

    def queue(self, prompt: Mapping[str, Any]) -> str:
        """``POST /prompt``; the prompt id. :class:`TemplateRejected` on HTTP 400 (with the node errors)."""
        body = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode("utf-8")
        req = urllib.request.Request(self.url + "/prompt", data=body, headers={"Content-Type": "application/json"}, method="POST")
        with self._lock:
            self.posted += 1
        try:
            answer = json.loads(self._open(req).decode("utf-8"))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", errors="replace")
            if exc.code == 400:
                raise TemplateRejected(f"ComfyUI at {self.url} rejected the workflow: {describe_rejection(text)}") from exc
            raise ServerUnavailable(f"POST {self.url}/prompt answered HTTP {exc.code}: {text[:500]}") from exc
        if not isinstance(answer, dict) or "prompt_id" not in answer:
            raise ServerUnavailable(f"POST {self.url}/prompt answered without a prompt_id: {str(answer)[:300]}")
        return str(answer["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        return (self.get_json(f"/history/{urllib.parse.quote(prompt_id)}") or {}).get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 3600.0) -> dict[str, Any]:
        """Poll ``/history/<id>`` until the prompt finished; its entry. :class:`PromptFailed` on an execution error,
        :class:`ServerUnavailable` when the prompt vanished (neither queued nor in the history: a restarted server)."""
        deadline = time.monotonic() + timeout
        delay = self.poll_interval
        last_queue_check = time.monotonic()
        while True:
            entry = self.history(prompt_id)
            status = (entry or {}).get("status") or {}
            if status.get("status_str") == "error":
                raise PromptFailed(f"prompt {prompt_id} failed on {self.url}: {describe_execution_error(status)}")
            if entry is not None and (status.get("status_str") == "success" or (not status and entry.get("outputs"))):
                return entry
            if entry is None and time.monotonic() - last_queue_check > 5.0:
                last_queue_check = time.monotonic()
                if not self._queued(prompt_id) and self.history(prompt_id) is None:
                    raise ServerUnavailable(f"prompt {prompt_id} vanished from {self.url} (neither queued nor in its history: restarted?)")
            if time.monotonic() > deadline:
                raise PromptFailed(f"prompt {prompt_id} did not finish on {self.url} within {timeout:.0f} s.")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _queued(self, prompt_id: str) -> bool:
        """Whether ``/queue`` lists the prompt as running or pending (entries are [number, prompt_id, ...])."""
        q = self.get_json("/queue") or {}
        return any(isinstance(e, list) and len(e) > 1 and e[1] == prompt_id
                   for e in (q.get("queue_running") or []) + (q.get("queue_pending") or []))

    def download(self, ref: ImageRef) -> bytes:
        try:
            return self._open(self.url + "/view?" + ref.query())
        except urllib.error.HTTPError as exc:
            raise PromptFailed(f"GET {self.url}/view for {ref.filename!r} ({ref.type}) answered HTTP {exc.code}") from exc

    def run(self, prompt: Mapping[str, Any], image_nodes: Sequence[str], timeout: float = 3600.0) -> PromptOutcome:
        """Queue, wait, download every image the ``image_nodes`` reported."""
        t0 = time.perf_counter()
        prompt_id = self.queue(prompt)
        entry = self.wait(prompt_id, timeout=timeout)
        refs = image_refs(entry.get("outputs") or {}, image_nodes)
        if not refs:
            raise PromptFailed(
                f"prompt {prompt_id} on {self.url} finished but node(s) {', '.join(image_nodes)} reported no image "
                f"(outputs of: {', '.join(entry.get('outputs') or {}) or 'none'})."
            )
        outcome = PromptOutcome(prompt_id, [(ref, self.download(ref)) for ref in refs])
        outcome.seconds = time.perf_counter() - t0
        return outcome


def image_refs(outputs: Mapping[str, Any], image_nodes: Sequence[str]) -> list[ImageRef]:
    refs: list[ImageRef] = []
    for node in image_nodes:
        for img in (outputs.get(str(node)) or {}).get("images") or []:
            if isinstance(img, Mapping) and img.get("filename"):
                refs.append(ImageRef(str(node), str(img["filename"]), str(img.get("subfolder") or ""), str(img.get("type") or "output")))
    return refs


def describe_rejection(text: str) -> str:
    """A readable summary of ComfyUI's validation answer (``error`` + ``node_errors``)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text[:1000]
    parts: list[str] = []
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        parts.append(f"{error.get('message', '')} {error.get('details', '')}".strip())
    for node_id, info in ((body.get("node_errors") or {}) if isinstance(body, dict) else {}).items():
        for err in info.get("errors", []):
            parts.append(f"node {node_id} ({info.get('class_type', '?')}): {err.get('message', '')}: {err.get('details', '')}")
    return "; ".join(p for p in parts if p) or text[:1000]


def describe_execution_error(status: Mapping[str, Any]) -> str:
    for event, data in status.get("messages") or []:
        if event in ("execution_error", "execution_interrupted") and isinstance(data, dict):
            return (f"{event} in node {data.get('node_id')} ({data.get('node_type')}): "
                    f"{data.get('exception_type', '')}: {data.get('exception_message', '')}").strip()
    return f"status {status.get('status_str')!r}"
