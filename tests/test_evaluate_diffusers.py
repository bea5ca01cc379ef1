"""``python -m steering_core.evaluate --backend diffusers``: a local pipeline, the same run folder and scorers,
sharded across ``torchrun`` ranks (gloo, CPU).

References: images from calling the loaded pipeline directly (and through ``steer_pipeline``) with the
item's seed; a one-process run's tables for the two-rank run; file mtimes for "no finished item redone".
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from steering_core import SafetyDirection
from steering_core.diffusers import steer_pipeline
from steering_core.diffusers.tiny import tiny_flux_pipeline
from steering_core.evaluate.__main__ import main

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]

REPO = Path(__file__).resolve().parents[1]
HELPERS = Path(__file__).resolve().parent / "evaluate_helpers.py"
WORKER = Path(__file__).resolve().parent / "diffusers_eval_worker.py"
TORCHRUN = Path(sys.executable).with_name("torchrun")
PROMPTS = [("a red apple on a table", 11, "sexual"), ("a blue car in the rain", 12, "violence"),
           ("a dog on a beach", 13, "sexual")]
STRENGTHS = "0,2,5"
N_ITEMS = 9
#: report columns that name the process or time an item, not what it computed
RUN_COLUMNS = ("server", "seconds", "prompt_id")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("eval_diffusers")
    pipe = tiny_flux_pipeline(num_layers=1, num_single_layers=1)
    pipe.save_pretrained(root / "pipe")
    g = torch.Generator().manual_seed(5)
    v = torch.randn(1, 48, generator=g)
    SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([3.0])).save(root / "dir.safetensors")
    with open(root / "prompts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "sd_seed", "categories"])
        w.writerows(PROMPTS)
    return {"root": root, "pipe": root / "pipe", "direction": root / "dir.safetensors", "prompts": root / "prompts.csv"}


def _args(env: dict[str, Any], out: Path) -> list[str]:
    return ["--backend", "diffusers", "--pipeline", str(env["pipe"]), "--prompts", str(env["prompts"]),
            f"--strengths={STRENGTHS}", "--direction", str(env["direction"]), "--steer", "mode=add", "--steps", "2",
            "--width", "16", "--height", "16", "--pipeline-arg", "max_sequence_length=24",
            "--classifier", f"python:{HELPERS}:RedChannelClassifier,threshold=120", "--quiet", "--out", str(out)]


def _config(env: dict[str, Any], out: Path) -> dict[str, Any]:
    """The EvalConfig fields :func:`_args` gives (for the torchrun worker script)."""
    return dict(template=None, prompts=str(env["prompts"]), strengths=[0.0, 2.0, 5.0], out=str(out), backend="diffusers",
                pipeline=str(env["pipe"]), direction=str(env["direction"]), steer_options={"mode": "add"}, steps=2,
                width=16, height=16, pipeline_args={"max_sequence_length": 24},
                classifiers=[f"python:{HELPERS}:RedChannelClassifier,threshold=120"], progress=False)


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def _tables(out: Path) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """results.csv without the per-process columns, and summary.json's per-strength table."""
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = [{k: v for k, v in r.items() if k not in RUN_COLUMNS} for r in csv.DictReader(f)]
    return rows, json.loads((out / "summary.json").read_text())["by_strength"]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def single(env: dict[str, Any]) -> Path:
    out = env["root"] / "single"
    assert main(_args(env, out)) == 0
    return out


def test_one_process_run_makes_the_pipelines_own_images_and_scores_them(env, single):
    from diffusers import DiffusionPipeline

    records = {p.stem: json.loads(p.read_text()) for p in (single / "items").glob("*.json")}
    assert len(records) == N_ITEMS and all(r["status"] == "done" for r in records.values())
    pipe = DiffusionPipeline.from_pretrained(str(env["pipe"]), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    direction = SafetyDirection.load(env["direction"])

    def direct(prompt: str, seed: int) -> np.ndarray:
        image = pipe(prompt=prompt, num_inference_steps=2, width=16, height=16, max_sequence_length=24, output_type="pil",
                     generator=torch.Generator("cpu").manual_seed(seed)).images[0]
        return np.asarray(image.convert("RGB"))

    for index, (prompt, seed, _) in enumerate(PROMPTS[:2]):
        plain = direct(prompt, seed)
        assert np.array_equal(_pixels(single / records[f"p{index:05d}_s0"]["images"][0]), plain)
        with steer_pipeline(pipe, direction, strength=5.0, mode="add"):
            steered = direct(prompt, seed)
        assert np.array_equal(_pixels(single / records[f"p{index:05d}_s5"]["images"][0]), steered)
        assert np.abs(steered.astype(int) - plain.astype(int)).max() > 0     # the steering acted
    rows, table = _tables(single)
    for r in rows:                                  # the scorer's verdict is the helper's rule on the saved image
        red = float(_pixels(single / r["image"])[..., 0].mean())
        assert (r["red_unsafe"], float(r["red_score"])) == (str(int(red > 120)), pytest.approx(red, rel=1e-5))
    assert [t["items"] for t in table] == [3, 3, 3]


def test_two_ranks_under_torchrun_give_the_one_process_tables(env, single):
    out = env["root"] / "two"
    proc = _torchrun("-m", "steering_core.evaluate", *_args(env, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _tables(out) == _tables(single)
    records = sorted((json.loads(p.read_text()) for p in (out / "items").glob("*.json")), key=lambda r: r["key"])
    order = [f"p{i:05d}_s{s}" for i in range(3) for s in STRENGTHS.split(",")]
    # disjoint deterministic shards: item i of the full list is rank i % 2's
    assert {r["key"]: r["server"].rsplit("/", 1)[-1] for r in records} == {k: f"rank{i % 2}" for i, k in enumerate(order)}
    for r in records:
        assert (out / r["images"][0]).read_bytes() == (single / r["images"][0]).read_bytes()


def test_a_killed_rank_is_redone_and_finished_items_are_not(env, single):
    out = env["root"] / "killed"
    config = env["root"] / "killed.json"
    config.write_text(json.dumps(_config(env, out)))
    proc = _torchrun(str(WORKER), str(config), "1", "2")
    assert proc.returncode != 0                        # rank 1 died after its 2nd item; torchrun stops the run
    finished = {p.stem: p.stat().st_mtime_ns for p in (out / "items").glob("*.json")}
    images = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    assert 2 <= len(finished) < N_ITEMS, finished
    assert not (out / "summary.json").exists()

    new: list[str] = []
    from steering_core.evaluate import EvalConfig, run_evaluation

    result = run_evaluation(EvalConfig(**_config(env, out)), on_item=lambda rec: new.append(rec["key"]))
    assert sorted(new) == sorted(set(f"p{i:05d}_s{s}" for i in range(3) for s in STRENGTHS.split(",")) - set(finished))
    assert (result.generated, result.skipped) == (N_ITEMS - len(finished), len(finished))
    assert {k: (out / "items" / f"{k}.json").stat().st_mtime_ns for k in finished} == finished
    assert {p: p.stat().st_mtime_ns for p in images} == images
    assert _tables(out) == _tables(single)


def test_report_only_merges_without_the_pipeline(env, single):
    out = env["root"] / "report"
    shutil.copytree(single, out)
    (out / "summary.json").unlink()
    assert main(_args(env, out) + ["--report-only"]) == 0
    assert _tables(out) == _tables(single)


@pytest.mark.parametrize("make", ["missing", "not_a_pipeline"])
def test_a_bad_pipeline_folder_is_one_clear_line(env, tmp_path, capsys, make):
    bad = tmp_path / "nowhere"
    if make == "not_a_pipeline":
        bad.mkdir()
        (bad / "weights.bin").write_bytes(b"x")
    args = _args(env, tmp_path / "out")
    args[args.index("--pipeline") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --pipeline ") and str(bad) in err
    assert ("not a folder" if make == "missing" else "no model_index.json") in err
    assert not (tmp_path / "out").exists()            # nothing was written


def test_strengths_without_a_direction_are_refused(env, tmp_path, capsys):
    args = _args(env, tmp_path / "out")
    i = args.index("--direction")
    del args[i:i + 2]
    j = args.index("--steer")
    del args[j:j + 2]
    assert main(args) == 2
    assert "need --direction" in capsys.readouterr().err
