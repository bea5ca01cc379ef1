"""Score agreement: the benign-only, per-direction diagnostic of a map (steering_core.alignment.agreement)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.alignment.agreement import score_agreement, spearman

pytestmark = pytest.mark.host_independent


def test_spearman_matches_numpy_ranks() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b = b + a
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    assert spearman(torch.tensor(a), torch.tensor(b)) == pytest.approx(np.corrcoef(ra, rb)[0, 1], rel=1e-12)
    assert spearman(torch.tensor(a), torch.tensor(-a)) == pytest.approx(-1.0)


@pytest.fixture(scope="module")
def half_kept() -> tuple[torch.Tensor, torch.Tensor]:
    """Target keeps the source's first 6 coordinates (rotated) and replaces the last 6 by noise."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 12))
    rot, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    y = np.concatenate([x[:, :6] @ rot, rng.normal(size=(400, 6))], axis=1)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


@pytest.mark.parametrize("kind", ["ridge", "procrustes"])
def test_agreement_separates_a_carried_direction_from_a_lost_one(half_kept, kind: str) -> None:
    """Along a kept coordinate the target ranks anchors as the source does (agreement near 1); along a
    coordinate the target lost, ranks are unrelated (near 0), although it is the same map."""
    x, y = half_kept
    kept, lost = torch.eye(12)[0], torch.eye(12)[9]
    agree = score_agreement(x, y, torch.stack([kept, lost]), kind)
    assert agree[0] > 0.9
    assert abs(float(agree[1])) < 0.3


def test_transport_warns_and_reports_poor_fit(half_kept) -> None:
    x, y = half_kept
    alignment = sc.fit_alignment(x, y, "ridge")
    direction = sc.SafetyDirection.from_vectors(torch.stack([torch.eye(12)[1], torch.eye(12)[10]]),
                                                categories=("kept", "lost"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        moved = alignment.transport(direction, calibrate=False)
    poor = [w for w in caught if issubclass(w.category, sc.PoorTransferWarning)]
    assert len(poor) == 1 and "lost" in str(poor[0].message) and "kept" not in str(poor[0].message)
    report = sc.transport_report(moved)
    rows = {r.category: r.agreement for r in report.rows}
    assert rows["kept"] > 0.9 and rows["lost"] < 0.3
    text = report.to_markdown()
    assert "WARNING" in text and "lost (" in text


def test_old_reports_without_agreement_still_load() -> None:
    data = {"map_kind": "ridge", "held_out_r2": 0.4, "beta": 1.0, "basis_energy": 0.9,
            "rows": [{"category": "violence", "coverage": 0.8, "source_scale": 1.0, "target_scale": 1.0,
                      "cosine_to_native": None}]}
    from steering_core.alignment.transport_report import TransportReport

    report = TransportReport.from_dict(data)
    assert report.rows[0].agreement is None and "n/a" in report.to_markdown()


def test_auto_kind_picks_the_map_with_the_highest_agreement(half_kept) -> None:
    x, y = half_kept
    directions = torch.eye(12)[:3]
    a = sc.fit_alignment(x, y, "auto", directions=directions)
    sel = a.diagnostics["kind_selection"]
    expected = {k: float(score_agreement(x, y, directions, k).mean()) for k in ("ridge", "procrustes")}
    assert sel["agreement"] == pytest.approx(expected)
    assert a.kind == sel["chosen"] == max(expected, key=expected.get)
