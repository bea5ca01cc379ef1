"""Every supported diffusers family: tiny transformers from diffusers' own test configs, called directly
inside a scheduler step, steered at one block; the block's output is checked against closed forms."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import pytest
import torch

from steering_core import SafetyDirection
from steering_core.diffusers import steer_pipeline
from steering_core.diffusers.families import FAMILIES, blocks_of, family_for

pytestmark = pytest.mark.host_independent


def _flux2() -> tuple[torch.nn.Module, dict[str, Any]]:
    from diffusers import Flux2Transformer2DModel

    tr = Flux2Transformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=2, attention_head_dim=16,
                                 num_attention_heads=2, joint_attention_dim=32, timestep_guidance_channels=256,
                                 axes_dims_rope=[4, 4, 4, 4])
    img_ids = torch.cartesian_prod(torch.arange(1), torch.arange(4), torch.arange(4), torch.arange(1)).unsqueeze(0)
    txt_ids = torch.cartesian_prod(torch.arange(1), torch.arange(1), torch.arange(1), torch.arange(6)).unsqueeze(0)
    return tr, dict(hidden_states=torch.randn(1, 16, 4), encoder_hidden_states=torch.randn(1, 6, 32), img_ids=img_ids,
                    txt_ids=txt_ids, timestep=torch.tensor([1.0]), guidance=torch.tensor([1.0]))


def _wan() -> tuple[torch.nn.Module, dict[str, Any]]:
    from diffusers import WanTransformer3DModel

    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4,
                               out_channels=4, text_dim=16, freq_dim=256, ffn_dim=32, num_layers=2,
                               cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    return tr, dict(hidden_states=torch.randn(1, 4, 2, 16, 16), encoder_hidden_states=torch.randn(1, 12, 16),
                    timestep=torch.tensor([500]))


def _qwen() -> tuple[torch.nn.Module, dict[str, Any]]:
    from diffusers import QwenImageTransformer2DModel

    tr = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
                                     num_attention_heads=4, joint_attention_dim=16, guidance_embeds=False,
                                     axes_dims_rope=(8, 4, 4))
    return tr, dict(hidden_states=torch.randn(1, 16, 16), encoder_hidden_states=torch.randn(1, 8, 16),
                    encoder_hidden_states_mask=torch.ones(1, 8, dtype=torch.long), timestep=torch.tensor([1.0]),
                    img_shapes=[(1, 4, 4)])


def _ltx() -> tuple[torch.nn.Module, dict[str, Any]]:
    from diffusers import LTXVideoTransformer3DModel

    tr = LTXVideoTransformer3DModel(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8,
                                    cross_attention_dim=16, num_layers=2, qk_norm="rms_norm_across_heads",
                                    caption_channels=16)
    return tr, dict(hidden_states=torch.randn(1, 2 * 4 * 4, 4), encoder_hidden_states=torch.randn(1, 10, 16),
                    timestep=torch.tensor([500]), encoder_attention_mask=torch.ones(1, 10).bool(), num_frames=2,
                    height=4, width=4)


def _hunyuan() -> tuple[torch.nn.Module, dict[str, Any]]:
    from diffusers import HunyuanVideoTransformer3DModel

    tr = HunyuanVideoTransformer3DModel(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10,
                                        num_layers=1, num_single_layers=2, num_refiner_layers=1, patch_size=1,
                                        patch_size_t=1, guidance_embeds=True, text_embed_dim=16,
                                        pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type=None)
    return tr, dict(hidden_states=torch.randn(1, 4, 1, 8, 8), timestep=torch.tensor([500]),
                    encoder_hidden_states=torch.randn(1, 12, 16), pooled_projections=torch.randn(1, 8),
                    encoder_attention_mask=torch.ones(1, 12), guidance=torch.tensor([1000.0]))


# family name -> (builder, site, img index in a tuple output or None for a tensor, text tokens first in a concat output)
CASES: dict[str, tuple[Callable[[], tuple[torch.nn.Module, dict[str, Any]]], str]] = {
    "Flux 2": (_flux2, "single:1"),
    "Wan": (_wan, "double:1"),
    "Qwen-Image": (_qwen, "double:1"),
    "LTX-Video": (_ltx, "double:1"),
    "HunyuanVideo": (_hunyuan, "single:0"),
}


def _pipe(transformer: torch.nn.Module) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler()
    scheduler.set_timesteps(2)
    return SimpleNamespace(transformer=transformer.eval(), scheduler=scheduler)


def _hidden_direction(dim: int, scale: float = 1.5) -> SafetyDirection:
    v = torch.randn(1, dim, generator=torch.Generator().manual_seed(2))
    return SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([scale]))


def _block_out(transformer: torch.nn.Module, block: torch.nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    got: list[Any] = []
    h = block.register_forward_hook(lambda _m, _i, out: got.append(out if isinstance(out, tuple) else (out,)))
    try:
        with torch.no_grad():
            transformer(**inputs)
    finally:
        h.remove()
    return got[0]


def test_the_table_covers_the_families_of_the_brief() -> None:
    assert {f.name for f in FAMILIES.values()} == {"Flux", "Flux 2", "SD3", "Wan", "Qwen-Image", "LTX-Video",
                                                    "HunyuanVideo"}


@pytest.mark.parametrize("family", list(CASES))
def test_hidden_direction_shifts_every_token_of_the_steered_block(family: str) -> None:
    build, site = CASES[family]
    torch.manual_seed(0)
    transformer, inputs = build()
    assert family_for(transformer).name == family
    pipe = _pipe(transformer)
    fam = family_for(transformer)
    kind, index = site.split(":")
    block = blocks_of(transformer, fam, kind)[int(index)]                       # type: ignore[index]
    hidden = transformer.inner_dim if isinstance(getattr(transformer, "inner_dim", None), int) else \
        transformer.config.num_attention_heads * transformer.config.attention_head_dim
    direction, strength = _hidden_direction(hidden), 2.0
    base = _block_out(transformer, block, inputs)
    stream = "img" if fam.double_out == "img" else "both"    # Wan / LTX "txt" edits the block's input context
    with steer_pipeline(pipe, direction, strength=strength, mode="add", sites=site, stream=stream) as handle:
        steered = _block_out(transformer, block, inputs)
    assert handle.report()["edits"] == {site: 1}
    shift = strength * 1.5 * direction.vectors[0]
    for b, s in zip(base, steered):                                             # every stream the block returns
        if isinstance(b, torch.Tensor):
            torch.testing.assert_close(s - b, shift.expand_as(b), rtol=0, atol=1e-5)
    assert torch.equal(_block_out(transformer, block, inputs)[0], base[0])    # removed


def test_wan_txt_stream_edits_the_context_by_the_finite_difference_of_its_text_embedder() -> None:
    torch.manual_seed(0)
    transformer, inputs = _wan()
    pipe = _pipe(transformer)
    embedder = transformer.condition_embedder.text_embedder
    v = torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    direction = SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([1.2]))
    seen: list[torch.Tensor] = []                                              # the context block 1's cross-attention reads

    def grab(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen.append((kwargs["encoder_hidden_states"] if "encoder_hidden_states" in kwargs else args[1]).clone())

    hook = transformer.blocks[1].attn2.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            transformer(**inputs)
            with steer_pipeline(pipe, direction, strength=2.0, mode="add", sites="double:1", stream="txt"):
                transformer(**inputs)
    finally:
        hook.remove()
    c = inputs["encoder_hidden_states"]
    with torch.no_grad():                                       # a * mean_t (f(c + s v) - f(c)): one gap, times strength
        expected = 2.0 * (embedder(c + 1.2 * direction.vectors[0]) - embedder(c)).mean(dim=1)
    torch.testing.assert_close(seen[1] - seen[0], expected.unsqueeze(1).expand_as(seen[0]), rtol=0, atol=1e-5)


def test_hunyuan_refuses_a_conditioning_space_direction() -> None:
    torch.manual_seed(0)
    transformer, _ = _hunyuan()
    with pytest.raises(Exception, match=r"hidden space \(20\)"):
        steer_pipeline(_pipe(transformer), _hidden_direction(16), mode="add", space="conditioning")
