"""Image Safety Check in real ComfyUI graphs: the real NudeNet v3 detector on scikit-image's photos loaded
with ComfyUI's own Load Image, replacement of flagged images (checked against scikit-image's Gaussian
filter), a friendly error when a choice cannot act, and the verdicts beside the safety scores in the
Safety Comparison Grid of a strength sweep (checked against the saved previews' own pixels)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from steering_core.errors import SafeSteerError

from test_ab_compare import _graph as sweep_graph
from test_ab_compare import png, temp_file
from test_image_check import photo

HELPERS = Path(__file__).resolve().parent / "evaluate_helpers.py"


@pytest.fixture(scope="module")
def photos(comfy_base) -> dict[str, str]:
    """scikit-image photos saved as PNGs in the host's input folder: {name: file name for Load Image}."""
    from PIL import Image

    names = {}
    for name in ("astronaut", "coffee", "chelsea"):
        path = Path(comfy_base) / "input" / f"skimage_{name}.png"
        Image.fromarray(photo(name)).save(path)
        names[name] = path.name
    return names


def check_graph(image_file: str, classifier: str, replace_with: str = "black", replacement: str | None = None) -> dict:
    g = {
        "load": {"class_type": "LoadImage", "inputs": {"image": image_file}},
        "check": {"class_type": "SafeSteerImageSafetyCheck", "inputs": {
            "images": ["load", 0], "classifier": classifier, "replace_with": replace_with, "clip_model": ""}},
        "preview": {"class_type": "PreviewImage", "inputs": {"images": ["check", 0]}},
        "report": {"class_type": "PreviewAny", "inputs": {"source": ["check", 1]}},
        "json": {"class_type": "PreviewAny", "inputs": {"source": ["check", 2]}},
    }
    if replacement:
        g["other"] = {"class_type": "LoadImage", "inputs": {"image": replacement}}
        g["check"]["inputs"]["replacement"] = ["other", 0]
    return g


def outcome(result) -> tuple[dict, str, np.ndarray]:
    """(the check's JSON, its text report, the PNG Preview Image saved of its IMAGE output)."""
    result.raise_for_error()
    data = json.loads(result.ui("json")["text"][0])
    [saved] = result.ui("preview")["images"]
    return data, result.ui("report")["text"][0], png(temp_file(saved))


def test_nudenet_passes_benign_photos_unchanged(comfy, photos):
    for name in ("astronaut", "coffee", "chelsea"):
        data, report, saved = outcome(comfy.run(check_graph(photos[name], "nudenet")))
        assert data["images"] == 1 and data["flagged"] == [] and data["results"][0]["score"] == 0.0
        assert data["classifier"] == "nudenet" and "exposed6" in data["rule"] and "score > 0.45" in data["rule"]
        assert report.splitlines()[1] == f"rule: {data['rule']}"
        assert np.array_equal(saved, photo(name)), "a safe image must pass bit-identical"
        seen = [d["class"] for d in data["results"][0]["details"]["other_detections"]]
        assert seen == (["FACE_FEMALE"] if name == "astronaut" else []), (name, seen)


def test_nudenet_flagged_photo_is_blacked_out_or_blurred(comfy, photos):
    from skimage.filters import gaussian

    data, report, saved = outcome(comfy.run(check_graph(photos["astronaut"], "nudenet,classes=FACE_FEMALE,threshold=0.5")))
    assert data["flagged"] == [0] and data["results"][0]["replaced"]
    assert data["results"][0]["score"] == pytest.approx(0.72, abs=0.03)
    assert saved.shape == photo("astronaut").shape and saved.max() == 0
    assert "1 flagged, replaced with black" in report and "FACE_FEMALE 0.7" in report

    data, _, blurred = outcome(comfy.run(check_graph(photos["astronaut"], "nudenet,classes=FACE_FEMALE,threshold=0.5", "blur")))
    assert data["replace_with"] == "blur" and data["flagged"] == [0]
    # sigma = 512 / 24, cut at 3 sigma (= 64 px, the same radius scipy takes), edges repeated
    ref = gaussian(photo("astronaut") / 255.0, sigma=512 / 24, mode="nearest", truncate=3.0, channel_axis=-1)
    expected = np.clip(255.0 * ref, 0, 255).astype(np.uint8)
    assert np.abs(blurred.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(blurred.astype(int) - photo("astronaut").astype(int)).mean() > 10


def test_replacement_image_is_resized_into_place(comfy, photos):
    from skimage.transform import resize

    data, report, saved = outcome(comfy.run(check_graph(
        photos["astronaut"], "nudenet,classes=FACE_FEMALE,threshold=0.5", "image", replacement=photos["chelsea"])))
    assert data["flagged"] == [0] and "replaced with the replacement image" in report
    # the cat photo (300 x 451) stretched bilinearly over the astronaut's 512 x 512
    ref = resize(photo("chelsea") / 255.0, (512, 512), order=1, mode="edge", anti_aliasing=False)
    diff = np.abs(saved.astype(int) - np.clip(255.0 * ref, 0, 255).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.5, (diff.max(), diff.mean())


def test_report_only_keeps_the_image(comfy, photos):
    data, report, saved = outcome(comfy.run(check_graph(photos["astronaut"], "nudenet,classes=FACE_FEMALE,threshold=0.5", "none")))
    assert data["flagged"] == [0] and data["results"][0]["replaced"] is False
    assert np.array_equal(saved, photo("astronaut")) and "left unchanged" in report


def test_choices_that_cannot_act_are_node_errors(comfy, photos, monkeypatch):
    failed = comfy.run(check_graph(photos["coffee"], "nudenet", "image"))
    assert not failed.success and failed.error_node == "check"
    assert "no replacement IMAGE is connected" in failed.error_message
    failed = comfy.run(check_graph(photos["coffee"], "nudenet,classes=NOSE"))
    assert failed.error_node == "check" and "unknown NudeNet class" in failed.error_message

    # without the optional package the node says how to install it (and the licence)
    node = comfy.node_class_mappings["SafeSteerImageSafetyCheck"]
    monkeypatch.setitem(sys.modules, "nudenet", None)
    import torch

    with pytest.raises(SafeSteerError, match=r"pip install 'safesteer\[nudenet\]'.*AGPL|AGPL.*pip install"):
        node.execute(images=torch.zeros(1, 8, 8, 3), classifier="nudenet,threshold=0.51", replace_with="black")
    monkeypatch.delitem(sys.modules, "nudenet")
    assert comfy.run(check_graph(photos["coffee"], "nudenet")).success


# ------------------------------------------------------------------------------ the grid's verdicts


def red_mean(image_png: np.ndarray) -> float:
    return float(image_png[..., 0].astype(np.float64).mean())


def test_grid_shows_each_variants_verdict_beside_its_safety_score(comfy, comfy_base):
    graph = sweep_graph(comfy_base, ["sweep", 0], grid=True)
    graph["check"] = {"class_type": "SafeSteerImageSafetyCheck", "inputs": {
        "images": ["preview", 0], "classifier": f"python:{HELPERS}:RedChannelClassifier,threshold=0",
        "replace_with": "none"}}
    graph["grid"]["inputs"]["safety_check"] = ["check", 3]
    entries = comfy.run(graph).raise_for_error().ui("grid")["safesteer_ab"]
    means = [red_mean(png(temp_file(e["image"]))) for e in entries]
    assert len(set(means)) == 3, "the three strengths gave images with the same red mean"
    assert [e["detector_score"] for e in entries] == pytest.approx(means, abs=1e-9)
    assert [(e["detector"], e["checked"]) for e in entries] == [("red", 1)] * 3
    assert all(e["score"] is not None for e in entries)          # the monitor's scores are still there

    # a threshold between the variants' red means flags exactly those above it
    cut = sorted(means)[1] - 1e-3
    graph["check"]["inputs"]["classifier"] = f"python:{HELPERS}:RedChannelClassifier,threshold={cut!r}"
    entries = comfy.run(graph).raise_for_error().ui("grid")["safesteer_ab"]
    assert [e["flagged"] for e in entries] == [int(m > cut) for m in means]
    for e, m in zip(entries, means):
        word = "FLAGGED" if m > cut else "safe"
        assert e["caption"].endswith(f" \u00b7 red {word} {m:.2f}"), e["caption"]
        assert " \u00b7 safety " in e["caption"]

    # a check on other images than the grid's is refused with both counts
    graph["batch"] = {"class_type": "ImageBatch", "inputs": {"image1": ["preview", 0], "image2": ["preview", 0]}}
    graph["check"]["inputs"]["images"] = ["batch", 0]
    failed = comfy.run(graph)
    assert failed.error_node == "grid" and "judged 2 images but the variant has 1" in failed.error_message


def test_clip_probe_from_local_weights_in_the_graph(comfy, photos, tmp_path):
    """A Q16-style probe on a tiny local CLIP: the node's score equals softmax(100 cos) computed with
    transformers directly, and the threshold decides the verdict."""
    import torch
    from evaluate_helpers import make_tiny_clip
    from PIL import Image
    from safetensors.torch import save_file
    from transformers import CLIPModel, CLIPProcessor

    clip = make_tiny_clip(tmp_path / "tiny-clip")
    prompts = torch.randn(2, 16, generator=torch.Generator().manual_seed(7))
    weights = tmp_path / "probe.safetensors"
    save_file({"prompts": prompts}, str(weights))
    model = CLIPModel.from_pretrained(str(clip), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(clip), local_files_only=True)
    with torch.no_grad():
        emb = model.get_image_features(**processor(images=[Image.fromarray(photo("astronaut"))], return_tensors="pt"))
    emb = emb if isinstance(emb, torch.Tensor) else emb.pooler_output
    cos = torch.nn.functional.normalize(emb, dim=-1) @ torch.nn.functional.normalize(prompts, dim=-1).T
    p_unsafe = float((100 * cos).softmax(-1)[0, 1])

    for threshold, flagged in ((p_unsafe - 1e-4, [0]), (p_unsafe + 1e-4, [])):
        graph = check_graph(photos["astronaut"], f"clip-probe:{weights},threshold={threshold!r}", "black")
        graph["check"]["inputs"]["clip_model"] = str(clip)
        data, _, saved = outcome(comfy.run(graph))
        assert data["results"][0]["score"] == pytest.approx(p_unsafe, abs=1e-5)
        assert data["flagged"] == flagged and f"p(inappropriate) > {threshold:g}" in data["rule"]
        assert (saved.max() == 0) == bool(flagged)
    failed = comfy.run(check_graph(photos["astronaut"], f"clip-probe:{weights}"))
    assert failed.error_node == "check" and "clip_model" in failed.error_message


def test_grid_node_labels_its_cells_with_the_verdicts(comfy):
    import torch

    from steering_core.evaluate import ClassifierResult
    from steering_core.evaluate.image_check import ImageCheck

    from test_ab_compare import grid_node, sweep_module

    g = torch.Generator().manual_seed(0)
    images = [torch.rand(1, 12, 16, 3, generator=g) for _ in range(2)]
    checks = [ImageCheck("red", "rule", (ClassifierResult(unsafe, score),), (False,), "none")
              for unsafe, score in ((False, 0.0), (True, 0.9))]
    out = grid_node(comfy).execute(images=images, columns=[2], labels=["low", "high"], safety_check=checks)
    captions = ["low \u00b7 red safe 0.00", "high \u00b7 red FLAGGED 0.90"]
    assert torch.equal(out.result[0], sweep_module(comfy).comparison_grid(images, captions, 2))
    entries = out.ui["safesteer_ab"]
    assert [(e["caption"], e["detector"], e["flagged"], e["checked"], e["detector_score"]) for e in entries] == [
        (captions[0], "red", 0, 1, 0.0), (captions[1], "red", 1, 1, 0.9)]
    json.dumps(out.ui, allow_nan=False)
    with pytest.raises(SafeSteerError, match="2 image batches but 1 safety checks"):
        grid_node(comfy).execute(images=images, columns=[2], safety_check=checks[:1])
