"""What a SafeSteer patch did in one sampling run, and the no-silent-no-op verdict on it.

``dit_patch.install`` gives every patch a :class:`RunLedger`: its ``APPLY_MODEL`` wrapper counts
model calls inside the sigma window, the site patches count the calls that reached them and those
that edited tokens (per model call, added here after it), and an ``OUTER_SAMPLE`` wrapper resets it before
and judges it after each run. Edit counts that only the device knows (compiled graphs, accelerators) stay
tensors until the run is judged: one host read per report, none per site or step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from steering_core.errors import SafeSteerError

log = logging.getLogger("safesteer")

#: What a planner promises about its edits, read from its optional ``expects`` attribute:
#: "edit" (every reached site changes tokens: add mode), "may_edit" (edits depend on the data: gated,
#: project_out, SAE features) or "observe" (records only: monitor, activation recorders).
EXPECTATIONS = ("edit", "may_edit", "observe")
#: ``model_options`` key listing the :class:`RunLedger` of every SafeSteer patch on a model.
LEDGERS_KEY = "safesteer_ledgers"


def show_on_running_node(text: str) -> None:
    """Show ``text`` on the node that is executing (the sampler) in the ComfyUI frontend, where the host
    can (a prompt server with ``send_progress_text`` and an execution context); otherwise nothing."""
    try:
        from comfy_execution.utils import get_executing_context
        from server import PromptServer
    except ImportError:
        return
    context = get_executing_context()
    server = getattr(PromptServer, "instance", None)
    if context is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(text, context.node_id)


def ledgers_of(model: Any) -> list["RunLedger"]:
    """The ledgers of the SafeSteer patches on ``model`` (a ModelPatcher), oldest first."""
    return list(getattr(model, "model_options", {}).get(LEDGERS_KEY, []))


@dataclass
class RunLedger:
    """What one installed patch did during one sampling run (reset by the ``OUTER_SAMPLE`` wrapper).

    planned: model calls inside the sigma window that got a plan; reached: site calls that ran with
    a plan; edited: site calls whose tokens changed (reading it sums the device counts once).
    """

    what: str
    class_name: str
    sites: str
    expects: str
    planned: int = 0
    reached: int = 0
    report: str = ""
    known_edits: int = 0
    pending: list[torch.Tensor] = field(default_factory=list, repr=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> "RunLedger":
        return self  # ModelPatcher.clone() deep-copies model_options; clones report into the same ledger

    def start(self) -> None:
        self.planned = self.reached = self.known_edits = 0
        self.pending.clear()
        self.report = ""

    def add_call(self, reached: int, edited: int, pending: torch.Tensor | None) -> None:
        """Add one model call's counts: site calls reached, edits known on the host, and a 0-d tensor of edits
        counted on the device (or None), kept unread."""
        self.reached += reached
        self.known_edits += edited
        if pending is not None:
            self.pending.append(pending)

    @property
    def edited(self) -> int:
        """Site calls whose tokens changed; the device counts are summed and read here, once per device."""
        if self.pending:
            by_device: dict[torch.device, list[torch.Tensor]] = {}
            for count in self.pending:
                by_device.setdefault(count.device, []).append(count.reshape(()))
            self.known_edits += sum(int(torch.stack(counts).sum()) for counts in by_device.values())
            self.pending.clear()
        return self.known_edits

    def finish(self) -> str:
        """After a run: raise if the patch was a no-op where it had to act; return the run's report."""
        if self.planned == 0:
            self.report = f"{self.what}: no sampling step fell inside its start/end window; nothing was changed."
        elif self.reached == 0:
            raise SafeSteerError(
                f"{self.what} did nothing: {self.planned} model calls were inside its window, but "
                f"{self.class_name} never ran the patched sites ({self.sites}) through ComfyUI's block patch "
                f"points, so no token was steered. "
                f"This model variant is not supported; use Apply Safety Steering on the CONDITIONING instead.")
        elif self.edited == 0 and self.expects == "edit":
            raise SafeSteerError(
                f"{self.what} did nothing: the sites ({self.sites}) of {self.class_name} ran {self.reached} times "
                f"but no token was edited (the chosen stream has no tokens there). Choose another stream or sites.")
        elif self.edited == 0 and self.expects == "may_edit":
            self.report = (f"{self.what}: the sites ({self.sites}) ran {self.reached} times and no token needed "
                           f"a change (no gate opened / no harmful feature fired); the output equals the unsteered model's.")
        else:
            self.report = f"{self.what}: {self.edited} of {self.reached} site calls edited tokens."
        if self.report and self.edited == 0 and self.expects != "observe":
            log.warning("SafeSteer: %s", self.report)
            show_on_running_node(self.report)
        return self.report
