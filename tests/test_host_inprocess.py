"""Graphs run in a real ComfyUI 0.3.75 host imported into the test process (fixture ``comfy``).

Tiny random-weight DiTs are built through ComfyUI's own model classes by the test kit
(``tests/tiny_host_pack``) and sampled with the real ``KSampler`` node.
"""

from __future__ import annotations

import os

import pytest
from comfy_host import (
    PACK_NAME,
    REPO_ROOT,
    TESTKIT_NAME,
    TINY_PACK_DIR,
    tiny_ksampler_graph,
)

ARCHS = ["flux", "sd3", "wan21", "hunyuan_video", "qwen_image", "ltxv", "chroma", "lumina2", "hidream"]


def _stats(result) -> dict:
    result.raise_for_error()
    return result.ui("stats")


# -- the host and the packs -------------------------------------------------------------------


def test_host_imported_every_module(comfy) -> None:
    assert comfy.import_failures == [], "\n".join(comfy.init_log)
    assert "KSampler" in comfy.node_class_mappings and "CLIPTextEncode" in comfy.node_class_mappings


def test_safesteer_pack_loaded_by_the_host(comfy) -> None:
    # ComfyUI 0.3.75 records a custom-node import failure only in its log ("(IMPORT FAILED)"),
    # which InProcessHost collects; a pack that loaded is in nodes.LOADED_MODULE_DIRS.
    assert comfy.custom_node_import_failures == [], "\n".join(comfy.init_log)
    loaded = comfy.nodes.LOADED_MODULE_DIRS
    assert os.path.realpath(loaded[PACK_NAME]) == os.path.realpath(REPO_ROOT)
    assert os.path.realpath(loaded[TESTKIT_NAME]) == os.path.realpath(TINY_PACK_DIR)
    for node_id in comfy.node_class_mappings:
        if node_id.startswith("SafeSteerTiny"):
            assert comfy.python_module(node_id) == f"custom_nodes.{TESTKIT_NAME}", node_id
        elif node_id.startswith("SafeSteer"):
            assert comfy.python_module(node_id) == f"custom_nodes.{PACK_NAME}", node_id


def test_testkit_nodes_registered(comfy) -> None:
    expected = {"SafeSteerTinyModel", "SafeSteerTinyLatent", "SafeSteerTinyConditioning", "SafeSteerTinyTextEncoder",
                "SafeSteerTinyLatentStats"}
    assert expected <= set(comfy.node_class_mappings)


# -- tiny models through the real KSampler ----------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_arch_samples_through_ksampler(comfy, arch: str) -> None:
    from tiny_host_pack import tiny_models as tm

    first = _stats(comfy.run(tiny_ksampler_graph(arch)))
    assert first["finite"] == [True]
    assert tuple(first["shape"]) == tm.latent_shape(arch)
    assert first["std"][0] > 0
    second = _stats(comfy.run(tiny_ksampler_graph(arch)))
    assert second["sha256"] == first["sha256"], "the same graph gave different latents"
    assert second["values"] == first["values"]
    other = _stats(comfy.run(tiny_ksampler_graph(arch, model_seed=1)))
    assert other["sha256"] != first["sha256"], "the model seed did not change the weights"


def test_batch_of_two(comfy) -> None:
    stats = _stats(comfy.run(tiny_ksampler_graph("flux", batch=2)))
    assert stats["shape"] == [2, 16, 8, 8]


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_model_is_tiny_and_built_by_comfy(comfy, arch: str) -> None:
    from comfy import (  # (not `import comfy.x`: that would rebind the fixture's name)
        model_base,
        model_patcher,
    )
    from tiny_host_pack import tiny_models as tm

    spec = tm.arch(arch)
    model = tm.build_model(arch, seed=0)
    assert isinstance(model, model_patcher.ModelPatcher)
    assert isinstance(model.model, model_base.BaseModel)
    net = model.model.diffusion_model
    assert spec.hidden <= 256
    for container, count in spec.blocks.items():
        assert len(getattr(net, container)) == count, container
    text_in = net
    for part in spec.text_in.split("."):
        text_in = getattr(text_in, part)
    assert sum(p.numel() for p in net.parameters()) < 6_000_000
    assert tm.weight_digest(model) == tm.weight_digest(tm.build_model(arch, seed=0))
    assert tm.weight_digest(model) != tm.weight_digest(tm.build_model(arch, seed=1))
    if arch == "flux":
        assert len(net.double_blocks) >= 2 and len(net.single_blocks) >= 2


# -- real text encoders (ComfyUI classes, real tokenizers) ------------------------------------


@pytest.mark.parametrize(
    ("arch", "encoder", "dims"),
    [
        ("flux", "clip_l", 0),
        ("sd3", "clip_l", 0),
        ("wan21", "clip_l", 0),
        ("flux", "flux", 0),
        ("qwen_image", "qwen25", 0),
        ("hunyuan_video", "clip_l", 0),
        ("wan21", "minilm", 384),
        ("flux", "minilm", 384),
    ],
)
def test_clip_text_encode_into_ksampler(comfy, arch: str, encoder: str, dims: int) -> None:
    graph = tiny_ksampler_graph(arch, text="a red cube on a wooden table", negative_text="blurry", encoder=encoder,
                                context_dim=dims, pooled_dim=dims)
    first = _stats(comfy.run(graph))
    assert first["finite"] == [True]
    again = _stats(comfy.run(graph))
    assert again["sha256"] == first["sha256"]
    graph["pos"]["inputs"]["text"] = "a blue sphere under a street lamp"
    other = _stats(comfy.run(graph))
    assert other["sha256"] != first["sha256"], "the prompt text did not reach the model"


@pytest.mark.parametrize("kind", ["clip_l", "flux", "qwen25", "minilm"])
def test_tiny_text_encoder_widths(comfy, kind: str) -> None:
    from comfy import sd
    from tiny_host_pack import tiny_text_encoders as tte

    spec = tte.TEXT_ENCODERS[kind]
    clip = tte.build_clip(kind, seed=0)
    assert isinstance(clip, sd.CLIP)
    cond, pooled, _extra = tte.encode(clip, "a photo of a cat")
    assert cond.shape[0] == 1 and cond.shape[-1] == spec.cond_dim
    assert bool(cond.isfinite().all())
    if spec.pooled_dim is None:
        assert pooled is None
    else:
        assert pooled.shape == (1, spec.pooled_dim)


def test_minilm_in_comfy_bert_matches_transformers(comfy) -> None:
    import torch
    from tiny_host_pack import tiny_text_encoders as tte
    from transformers import AutoModel, AutoTokenizer

    text = "A man is eating food, while his dog watches from the doorway."
    clip = tte.build_clip("minilm")
    tokens = clip.tokenize(text)
    cond, pooled, _ = tte.encode(clip, text)
    folder = str(tte.minilm_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tokenizer(text, return_tensors="pt")
    assert [t[0] for t in tokens["minilm"][0]] == batch["input_ids"][0].tolist(), "ComfyUI's tokenization differs"
    with torch.no_grad():
        reference = model(**batch).last_hidden_state
    assert cond.shape == reference.shape
    for i in range(reference.shape[1]):
        assert tte.cosine(cond[0, i], reference[0, i]) > 0.999, f"token {i}"
    assert tte.cosine(cond, reference) > 0.999
    sentence = torch.nn.functional.normalize(reference.mean(dim=1), dim=-1)
    assert tte.cosine(pooled, sentence) > 0.999


# -- errors surface with the node and the message ---------------------------------------------


def test_execution_error_names_the_node(comfy) -> None:
    graph = tiny_ksampler_graph("flux")
    graph["pos"]["inputs"]["context_dim"] = 32  # 32-wide text into a DiT whose txt_in takes 64
    result = comfy.run(graph)
    assert not result.success and result.valid
    assert result.error_node == "sampler"
    assert result.error["node_type"] == "KSampler"
    assert "mat1 and mat2 shapes cannot be multiplied" in result.error_message
    with pytest.raises(Exception, match="mat1 and mat2"):
        result.raise_for_error()


def test_validation_error_reports_node_errors(comfy) -> None:
    graph = tiny_ksampler_graph("flux")
    graph["latent"]["inputs"]["batch"] = 10_000  # above the widget's max
    result = comfy.run(graph)
    assert not result.valid and not result.success
    errors = result.node_errors["latent"]["errors"]
    assert errors[0]["type"] == "value_bigger_than_max"
    assert "latent" in result.error_message
