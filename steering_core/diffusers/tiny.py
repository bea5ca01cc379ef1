"""Tiny random-weight diffusers pipelines built locally through diffusers' own classes (no model hub).

For tests, benchmarks and the README: the shapes follow diffusers' own test suite
(``get_dummy_components``), the tokenizers are byte-level BPE tokenizers with no merges built in memory
(every byte is one token, so different prompts give different token ids). Weights come from
``torch.manual_seed(seed)``; the images are noise, the maths is the real pipeline's.
"""

from __future__ import annotations

from typing import Any

import torch


def byte_tokenizer(max_length: int = 77) -> Any:
    """A ``PreTrainedTokenizerFast``: one token per UTF-8 byte (ids 4-259), pad 0, eos 1, unk 2, bos 3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "<s>": 3}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):  # a set: sorted, so ids do not depend on the hash seed
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   bos_token="<s>", model_max_length=max_length)


def _clip_config(with_projection: bool = False) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=3, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                          num_attention_heads=4, num_hidden_layers=2, pad_token_id=0, vocab_size=300,
                          hidden_act="gelu", projection_dim=32)


def _t5(seed: int, d_model: int = 32) -> Any:
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(vocab_size=300, d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                                   decoder_start_token_id=0)).eval()


def _vae(seed: int, latent_channels: int) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                         latent_channels=latent_channels, norm_num_groups=1, use_quant_conv=False,
                         use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035).eval()


def tiny_flux_pipeline(num_layers: int = 2, num_single_layers: int = 2, seed: int = 0) -> Any:
    """A ``FluxPipeline``: hidden 32 (2 heads x 16), T5 conditioning 48-d, CLIP pooled 32-d."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=num_layers,
                                         num_single_layers=num_single_layers, attention_head_dim=16,
                                         num_attention_heads=2, joint_attention_dim=48, pooled_projection_dim=32,
                                         axes_dims_rope=[4, 4, 8]).eval()
    torch.manual_seed(seed + 1)
    clip = CLIPTextModel(_clip_config()).eval()
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(seed + 3, 1), text_encoder=clip,
                        tokenizer=byte_tokenizer(77), text_encoder_2=_t5(seed + 2, 48), tokenizer_2=byte_tokenizer(512),
                        transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sd3_pipeline(num_layers: int = 3, seed: int = 0) -> Any:
    """A ``StableDiffusion3Pipeline``: hidden 32, conditioning 48-d (CLIP-L/G 16 + 16, zero-padded, beside T5 48)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(sample_size=32, patch_size=1, in_channels=4, num_layers=num_layers,
                                        attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                        joint_attention_dim=48, pooled_projection_dim=64, out_channels=4).eval()
    cfg = dict(bos_token_id=3, eos_token_id=2, hidden_size=16, intermediate_size=37, layer_norm_eps=1e-05,
               num_attention_heads=4, num_hidden_layers=2, pad_token_id=0, vocab_size=300, hidden_act="gelu",
               projection_dim=32)
    torch.manual_seed(seed + 1)
    clip1 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg)).eval()
    torch.manual_seed(seed + 2)
    clip2 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg)).eval()
    torch.manual_seed(seed + 4)
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=4, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035).eval()
    pipe = StableDiffusion3Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip1,
                                    tokenizer=byte_tokenizer(77), text_encoder_2=clip2, tokenizer_2=byte_tokenizer(77),
                                    text_encoder_3=_t5(seed + 3, 48), tokenizer_3=byte_tokenizer(512),
                                    transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sd_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=2).eval()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4,
                        norm_num_groups=2).eval()
    torch.manual_seed(seed + 2)
    clip = CLIPTextModel(_clip_config()).eval()
    return dict(unet=unet, scheduler=scheduler, vae=vae, text_encoder=clip, tokenizer=byte_tokenizer(77),
                safety_checker=None, feature_extractor=None)


def tiny_sd_pipeline(seed: int = 0) -> Any:
    """A ``StableDiffusionPipeline`` (U-Net, CLIP 32-d, DDIM), no safety checker."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**_sd_components(seed), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sld_pipeline(seed: int = 0) -> Any:
    """diffusers' Safe Latent Diffusion (``StableDiffusionPipelineSafe``) on the same components as
    :func:`tiny_sd_pipeline` with the same seed (identical weights)."""
    import diffusers

    cls = getattr(diffusers, "StableDiffusionPipelineSafe", None)
    if cls is None:
        from ..errors import SafeSteerError

        raise SafeSteerError(f"diffusers {diffusers.__version__} does not ship StableDiffusionPipelineSafe.")
    pipe = cls(**_sd_components(seed), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _wan_transformer(seed: int) -> Any:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
                                 out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
                                 cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()


def tiny_wan_pipeline(two_experts: bool = False, boundary_ratio: float = 0.5, seed: int = 0) -> Any:
    """A ``WanPipeline``: hidden 24 (2 heads x 12), 2 blocks, T5 conditioning 32-d, 16 latent channels.

    ``two_experts``: Wan 2.2's layout, a second transformer (``transformer_2``, other weights) for the
    low-noise steps, ``t < boundary_ratio * 1000``; CFG runs as separate cond / uncond calls.
    """
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline

    torch.manual_seed(seed + 3)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    pipe = WanPipeline(tokenizer=byte_tokenizer(512), text_encoder=_t5(seed + 2, 32), vae=vae,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), transformer=_wan_transformer(seed),
                       transformer_2=_wan_transformer(seed + 1) if two_experts else None,
                       boundary_ratio=boundary_ratio if two_experts else None)
    pipe.set_progress_bar_config(disable=True)
    return pipe
