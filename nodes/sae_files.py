"""Load Safety SAE: ``.safetensors`` Safety SAE files in ``models/safety_saes``."""

from __future__ import annotations

from comfy_api.latest import io

from steering_core.sae.safety_sae import SafetySAE

from .folders import SAES
from .types import CATEGORY, SafetySAEType


class LoadSafetySAE(io.ComfyNode):
    """Load a Safety SAE (sparse autoencoders at DiT sites, with their harmful features)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerLoadSAE",
            display_name="Load Safety SAE",
            category=CATEGORY,
            description="Load a Safety SAE file (.safetensors, made by Train Safety SAE) from models/safety_saes.",
            inputs=[io.Combo.Input("sae_name", options=SAES.files(),
                                   tooltip="A Safety SAE .safetensors file in models/safety_saes.")],
            outputs=[SafetySAEType.Output(display_name="sae"), io.String.Output(display_name="summary")],
        )

    @classmethod
    def execute(cls, sae_name: str) -> io.NodeOutput:
        bundle = SafetySAE.load(SAES.full_path(sae_name))
        return io.NodeOutput(bundle, bundle.describe())

    @classmethod
    def fingerprint_inputs(cls, sae_name: str) -> str:
        return SAES.fingerprint(sae_name)
