"""Image Safety Check core (steering_core.evaluate.image_check), without ComfyUI: the uint8 view the
classifier sees, the blur against scikit-image's Gaussian filter, replacement of flagged images, the
report, the real NudeNet v3 detector on scikit-image's photographs, and the verdicts in the A/B
compare's captions (steering_core.evidence.ab_compare)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from steering_core.evidence.ab_compare import VariantScore, caption, check_batch_sizes, variant_scores
from steering_core.errors import SafeSteerError
from steering_core.evaluate import NUDENET_LABELS, CheckedClassifier, ClassifierResult, build_classifier
from steering_core.evaluate.image_check import (
    ImageCheck,
    check_images,
    cached_classifier,
    gaussian_blur,
    replace_flagged,
    to_uint8,
)

HELPERS = Path(__file__).resolve().parent / "evaluate_helpers.py"
RED = f"python:{HELPERS}:RedChannelClassifier"


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph as ``uint8 [H, W, 3]`` (shipped in the wheel, no download)."""
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)()[..., :3])


def as_batch(*arrays: np.ndarray) -> torch.Tensor:
    """uint8 photos of one size -> a ComfyUI IMAGE ``[B, H, W, 3]`` in 0..1."""
    return torch.from_numpy(np.stack(arrays).astype(np.float32) / 255.0)


def red_image(red: float, h: int = 8, w: int = 10) -> torch.Tensor:
    """``[1, h, w, 3]``: red channel ``red / 255``, green 0.5, blue 0."""
    img = torch.zeros(1, h, w, 3)
    img[..., 0] = red / 255.0
    img[..., 1] = 0.5
    return img


# ------------------------------------------------------------------------------ pixels


def test_uint8_view_is_what_save_image_writes():
    x = torch.tensor([[[[0.5, 1.0, 1.2], [-0.1, 0.999, 0.0039]]]])          # [1, 1, 2, 3]
    assert to_uint8(x)[0].tolist() == [[[127, 255, 255], [0, 254, 0]]]       # truncation, clipped
    grey = torch.full((1, 2, 2, 1), 0.25)
    assert to_uint8(grey)[0].tolist() == [[[63, 63, 63]] * 2] * 2
    rgba = torch.cat([x, torch.zeros(1, 1, 2, 1)], dim=-1)
    assert np.array_equal(to_uint8(rgba)[0], to_uint8(x)[0])
    with pytest.raises(SafeSteerError, match=r"\[B, H, W, C\]"):
        to_uint8(torch.zeros(2, 8, 8))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.5])
def test_blur_matches_scikit_image_gaussian(sigma):
    from skimage.filters import gaussian

    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 37, 53, 3, generator=g)
    ours = gaussian_blur(img, sigma).numpy()
    for i in range(2):
        # scipy's radius is int(truncate * sigma + 0.5), ours ceil(truncate * sigma): equal for these sigmas
        ref = gaussian(img[i].numpy().astype(np.float64), sigma=sigma, mode="nearest", truncate=3.0,
                       channel_axis=-1, preserve_range=True)
        assert np.abs(ours[i] - ref).max() < 1e-5
    flat = torch.full((1, 20, 30, 3), 0.3)
    assert torch.allclose(gaussian_blur(flat), flat, atol=1e-6)              # a constant image stays put
    # the default sigma is 1/24 of the longer side: 48 px -> sigma 2
    square = torch.rand(1, 48, 30, 3, generator=g)
    assert torch.allclose(gaussian_blur(square), gaussian_blur(square, 2.0))


def test_replace_flagged_black_image_blur_and_none():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 6, 8, 3, generator=g)
    black = replace_flagged(images, [False, True, False], "black")
    assert torch.equal(black[0], images[0]) and torch.equal(black[2], images[2])
    assert torch.count_nonzero(black[1]) == 0

    same = torch.rand(2, 6, 8, 3, generator=g)
    swapped = replace_flagged(images, [True, False, True], "image", same)
    assert torch.equal(swapped[0], same[0]) and torch.equal(swapped[2], same[0])   # image i % 2 of the replacement
    assert torch.equal(swapped[1], images[1])
    orange = torch.zeros(1, 17, 5, 3)
    orange[..., 0], orange[..., 1] = 1.0, 0.5
    resized = replace_flagged(images, [False, False, True], "image", orange)
    assert torch.allclose(resized[2], torch.tensor([1.0, 0.5, 0.0]).expand(6, 8, 3), atol=1e-6)
    grey = replace_flagged(images, [True, False, False], "image", torch.full((1, 6, 8, 1), 0.25))
    assert torch.allclose(grey[0], torch.full((6, 8, 3), 0.25))

    blurred = replace_flagged(images, [True, False, False], "blur")
    assert torch.equal(blurred[0], gaussian_blur(images[:1])[0]) and torch.equal(blurred[1:], images[1:])
    assert replace_flagged(images, [True, True, True], "none") is images
    with pytest.raises(SafeSteerError, match="no replacement IMAGE is connected"):
        replace_flagged(images, [True, False, False], "image")
    with pytest.raises(SafeSteerError, match="not one of black, blur, image, none"):
        replace_flagged(images, [True, False, False], "pixelate")
    with pytest.raises(SafeSteerError, match="2 verdicts for 3 images"):
        replace_flagged(images, [True, False], "black")


# ------------------------------------------------------------------------------ a check with a plug-in


def test_check_reports_each_verdict_and_the_rule():
    clf = cached_classifier(f"{RED},threshold=100")
    images = torch.cat([red_image(50.0), red_image(150.0), red_image(230.0)])
    out, check = check_images(clf, images, "black")
    # the plug-in sees uint8 pixels: red 150/255 -> 150 (float rounding can only truncate down to 149)
    means = [float(to_uint8(images)[i][..., 0].mean()) for i in range(3)]
    assert [r.score for r in check.results] == means
    assert check.flagged == [1, 2] and check.replaced == (False, True, True)
    assert torch.equal(out[0], images[0]) and torch.count_nonzero(out[1:]) == 0
    data = check.to_json()
    assert data["rule"] == "test classifier: unsafe when mean red channel > 100 (0..255)"
    assert data["classifier"] == "red" and data["flagged"] == [1, 2] and data["replace_with"] == "black"
    assert [(r["index"], r["unsafe"], r["replaced"]) for r in data["results"]] == [(0, False, False), (1, True, True), (2, True, True)]
    text = check.text().splitlines()
    assert text[0] == "Image Safety Check (red): 3 images, 2 flagged, replaced with black"
    assert text[1] == "rule: test classifier: unsafe when mean red channel > 100 (0..255)"
    assert text[3] == f"  image 0: safe, score {means[0]:.3f}"
    assert text[4].endswith("-> replaced") and "FLAGGED" in text[4]

    kept, report_only = check_images(clf, images, "none")
    assert kept is images and report_only.flagged == [1, 2] and report_only.replaced == (False, False, False)
    assert "left unchanged" in report_only.text().splitlines()[0]
    with pytest.raises(SafeSteerError, match="no replacement IMAGE"):
        check_images(clf, images, "image")
    nan = CheckedClassifier(lambda ims: [(False, float("nan"))] * len(ims), name="broken")
    with pytest.raises(SafeSteerError, match=r"broken returned a non-finite score for image\(s\) \[0, 1, 2\]"):
        check_images(nan, images)


def test_classifiers_are_built_once_per_spec_and_rebuilt_when_the_file_changes(tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(HELPERS.read_text(encoding="utf-8"), encoding="utf-8")
    spec = f"python:{plugin}:RedChannelClassifier,threshold=10"
    first = cached_classifier(spec)
    assert cached_classifier(spec) is first
    assert cached_classifier(spec.replace("=10", "=11")) is not first
    st = plugin.stat()
    os.utime(plugin, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cached_classifier(spec) is not first
    with pytest.raises(SafeSteerError, match="classifier is empty"):
        cached_classifier("  ")


# ------------------------------------------------------------------------------ the real NudeNet v3 detector


BENIGN = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="module")
def detector():
    from nudenet import NudeDetector

    return NudeDetector()


def _saved(tmp_path: Path, name: str) -> str:
    from PIL import Image

    path = tmp_path / f"{name}.png"
    Image.fromarray(photo(name)).save(path)
    return str(path)


def test_nudenet_labels_are_the_detectors_own_18_classes():
    import nudenet.nudenet as nn

    own = [v for k, v in vars(nn).items() if k.endswith("labels") and isinstance(v, list)]
    assert len(own) == 1, "nudenet no longer keeps one label list"
    assert len(NUDENET_LABELS) == 18 and list(NUDENET_LABELS) == own[0]


def test_nudenet_raw_output_on_real_photos(detector, tmp_path):
    for name in BENIGN:
        found = detector.detect(_saved(tmp_path, name))
        h, w = photo(name).shape[:2]
        for d in found:
            assert set(d) == {"class", "score", "box"}
            assert d["class"] in NUDENET_LABELS and 0.2 <= d["score"] <= 1.0
            x, y, bw, bh = d["box"]
            assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w + 1 and y + bh <= h + 1, (name, d)
        exposed = [d for d in found if d["class"].endswith("_EXPOSED")]
        assert not exposed, (name, found)
        if name == "astronaut":            # Eileen Collins' portrait: one female face, nothing else
            assert [d["class"] for d in found] == ["FACE_FEMALE"]
            assert found[0]["score"] == pytest.approx(0.72, abs=0.03)
            x, y, bw, bh = found[0]["box"]
            assert 150 < x + bw / 2 < 250 and 50 < y + bh / 2 < 150      # her face, upper middle of the photo
        if name in ("coffee", "chelsea"):
            assert found == [], (name, found)


@pytest.mark.parametrize("spec", ["nudenet", "nudenet,threshold=0.6,classes=exposed9"])
def test_nudenet_does_not_flag_benign_photos(spec):
    clf = build_classifier(spec)
    results = clf([photo(n) for n in BENIGN])
    assert [r.unsafe for r in results] == [False] * len(BENIGN)
    assert [r.score for r in results] == [0.0] * len(BENIGN)
    astronaut = results[0].details
    assert astronaut["detections"] == []
    assert [d["class"] for d in astronaut["other_detections"]] == ["FACE_FEMALE"]
    assert "exposed" in clf.describe() and "320n.onnx" in clf.describe()


def test_nudenet_flags_when_a_chosen_class_fires_and_the_check_replaces_it(detector, tmp_path):
    """The positive control: with FACE_FEMALE as the class set the astronaut is flagged at the detector's own
    score, and the check blacks it out while the coffee photo passes untouched."""
    clf = cached_classifier("nudenet,classes=FACE_FEMALE,threshold=0.5")
    raw = detector.detect(_saved(tmp_path, "astronaut"))
    coffee = np.pad(photo("coffee")[:, :512], ((56, 56), (0, 0), (0, 0)))          # 400 x 600 -> 512 x 512
    images = as_batch(photo("astronaut"), coffee)
    out, check = check_images(clf, images, "black")
    assert check.flagged == [0]
    assert check.results[0].score == pytest.approx(raw[0]["score"], abs=1e-6)
    assert check.results[1].score == 0.0
    assert torch.count_nonzero(out[0]) == 0 and torch.equal(out[1], images[1])
    assert "[FACE_FEMALE] has score > 0.5" in check.rule
    assert "FACE_FEMALE 0.7" in check.text()



# ------------------------------------------------------------------------------ verdicts in the A/B compare


def _check(name: str, scores: list[float], threshold: float) -> ImageCheck:
    results = tuple(ClassifierResult(s > threshold, s) for s in scores)
    return ImageCheck(name, f"unsafe when score > {threshold}", results, (False,) * len(scores), "none")


def test_variant_verdicts_and_captions():
    checks = [_check("nudenet", [0.0], 0.45), _check("nudenet", [0.8123], 0.45), _check("nudenet", [0.5, 0.1], 0.45)]
    variants = variant_scores(3, ["strength 0", "strength 1", "strength 2"], [0.0, 1.0, 2.0], None, checks)
    assert [(v.detector, v.flagged, v.checked, v.detector_score) for v in variants] == [
        ("nudenet", 0, 1, 0.0), ("nudenet", 1, 1, 0.8123), ("nudenet", 1, 2, 0.5)]
    assert [caption(v) for v in variants] == [
        "strength 0 \u00b7 nudenet safe 0.00", "strength 1 \u00b7 nudenet FLAGGED 0.81",
        "strength 2 \u00b7 nudenet 1/2 FLAGGED (max 0.50)"]
    scored = VariantScore(1, "strength 1", 1.0, 3.75, 0.0, 1.25, "red", 0, 1, 12.0)
    assert caption(scored) == "strength 1 \u00b7 safety +3.75 (\u0394 +1.25) \u00b7 red safe 12.00"
    assert [v.detector for v in variant_scores(2, None, [0.0, 1.0])] == [None, None]
    with pytest.raises(SafeSteerError, match="3 image batches but 2 safety checks"):
        variant_scores(3, None, None, None, checks[:2])
    with pytest.raises(SafeSteerError, match="judged 2 images but the variant has 1"):
        check_batch_sizes([1, 1, 1], checks)
    check_batch_sizes([1, 1, 2], checks)
