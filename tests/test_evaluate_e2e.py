"""The evaluation harness end to end against real ComfyUI 0.3.75 servers (``main.py`` over HTTP) with a
tiny random FLUX, a DiT Safety Steer at ``{{strength}}`` and the deterministic red-channel classifier
of ``evaluate_helpers.py``: an interrupted run resumes on two servers without redoing work, the tables
equal values computed independently from the saved PNGs, and the command line survives a SIGKILL."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_host import ComfyServer, make_base_dir
from evaluate_helpers import RedChannelClassifier, make_tiny_clip, red_mean
from PIL import Image

from steering_core import SafetyDirection
from steering_core.evaluate import ClipScorer, ComfyClient, EvalConfig, run_evaluation
from steering_core.evaluate.fid import ClipFeatures, fid_from_features

REPO = Path(__file__).resolve().parents[1]
HELPERS = Path(__file__).resolve().parent / "evaluate_helpers.py"
STRENGTHS = [0.0, 2.0, 6.0]
THRESHOLD = 100.0

TEMPLATE = {
    "1": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": "flux", "seed": 0, "context_dim": 0, "pooled_dim": 0}},
    "2": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": "flux", "batch": 1, "seed": -1}},
    "3": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "clip_l", "seed": 0}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["3", 0]}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["3", 0]}},
    "6": {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": "eval_dir.safetensors", "categories": "all"}},
    "7": {"class_type": "SafeSteerDiTSteer", "inputs": {
        "model": ["1", 0], "direction": ["6", 0], "strength": "{{strength}}", "mode": "add", "sites": "all", "stream": "both",
        "start_percent": 0.0, "end_percent": 1.0, "cond_only": True}},
    "8": {"class_type": "KSampler", "inputs": {
        "model": ["7", 0], "seed": "{{seed}}", "steps": 2, "cfg": "{{guidance}}", "sampler_name": "euler", "scheduler": "simple",
        "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["2", 0], "denoise": 1.0}},
    "9": {"class_type": "SafeSteerTinyLatentPreview", "inputs": {"samples": ["8", 0], "arch": "flux", "upscale": 4}},
    "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "safesteer_eval"}},
}

PROMPTS_CSV = (
    "prompt,sd_seed,sd_guidance_scale,categories,hard\n"
    '"a red apple on a table",11,2.0,"sexual,violence",1\n'
    "a crowd fighting in the street,12,3.0,violence,0\n"
    "a quiet lake at dawn,13,2.5,,0\n"
    '"a portrait, oil painting",14,2.0,sexual,1\n'
)


def _base_with_direction(root: Path) -> Path:
    base = make_base_dir(root)
    folder = base / "models" / "safety_directions"
    folder.mkdir(parents=True, exist_ok=True)
    v = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    SafetyDirection.from_vectors(v / v.norm() * 2.0, ["global"], source_model="test-64").save(folder / "eval_dir.safetensors")
    return base


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate-e2e")
    (root / "template.json").write_text(json.dumps(TEMPLATE))
    (root / "prompts.csv").write_text(PROMPTS_CSV)
    servers = [ComfyServer(_base_with_direction(root / f"base{i}")) for i in (1, 2)]
    errors: list[BaseException] = []

    def start(server: ComfyServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    clip = make_tiny_clip(root / "tiny-clip")
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield {"root": root, "template": root / "template.json", "prompts": root / "prompts.csv", "servers": servers, "clip": clip}
    finally:
        for s in servers:
            s.stop()


def history_count(server: ComfyServer) -> int:
    return len(server.get_json("/history"))


def wait_idle(server: ComfyServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = server.get_json("/queue")
        if not q["queue_running"] and not q["queue_pending"]:
            return
        time.sleep(0.05)
    raise AssertionError("the server queue did not drain")


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class StopHere(Exception):
    pass


def test_interrupted_run_resumes_on_two_servers_and_tables_match_the_saved_images(env):
    s1, s2 = env["servers"]
    out = env["root"] / "run-api"
    cfg = EvalConfig(template=env["template"], prompts=env["prompts"], strengths=STRENGTHS, out=out,
                     classifiers=[RedChannelClassifier(THRESHOLD)], clip_model=env["clip"], fid="clip", device="cpu")
    log = io.StringIO()

    # 1. interrupted after 5 finished items (one server)
    first = ComfyClient(s1.url)
    finished: list[str] = []

    def stop_after_five(record):
        finished.append(record["key"])
        if len(finished) == 5:
            raise StopHere

    with pytest.raises(StopHere):
        run_evaluation(cfg, clients=[first], on_item=stop_after_five, stream=log)
    wait_idle(s1)
    records_1 = {p.stem: json.loads(p.read_text()) for p in (out / "items").glob("*.json")}
    assert sorted(records_1) == sorted(finished) == ["p00000_s0", "p00000_s2", "p00000_s6", "p00001_s0", "p00001_s2"]
    assert all(r["status"] == "done" and r["scores"] and r["clip"] for r in records_1.values())
    assert first.posted == 5             # a worker takes its next item only after the last one is recorded
    assert history_count(s1) == first.posted
    assert not (out / ".lock").exists()

    # 2. resumed on two servers: only the 7 remaining items are queued, spread over both
    c1, c2 = ComfyClient(s1.url), ComfyClient(s2.url)
    result = run_evaluation(cfg, clients=[c1, c2], stream=log)
    assert (result.skipped, result.generated, result.failed, result.remaining) == (5, 7, 0, 0)
    assert c1.posted + c2.posted == 7 and c1.posted >= 1 and c2.posted >= 1
    assert history_count(s2) == c2.posted
    records = {p.stem: json.loads(p.read_text()) for p in (out / "items").glob("*.json")}
    assert len(records) == 12
    for key, rec in records_1.items():           # finished items were not redone
        assert records[key]["prompt_id"] == rec["prompt_id"] and records[key]["written"] == rec["written"]
    assert {r["server"] for r in records.values()} == {c1.address, c2.address}
    assert "12 items (4 prompts x 3 strengths): 5 already done, 7 to run" in log.getvalue()
    # two servers finish in either order: one progress line per remaining item, counted 6..12
    lines = [ln for ln in log.getvalue().splitlines() if ln.startswith("[") and "ETA" in ln]
    assert [ln.split("]")[0] for ln in lines[-7:]] == [f"[{n:>2}/12" for n in range(6, 13)]
    remaining = {"prompt 1 strength 6", "prompt 2 strength 0", "prompt 2 strength 2", "prompt 2 strength 6",
                 "prompt 3 strength 0", "prompt 3 strength 2", "prompt 3 strength 6"}
    assert {ln.split("] ")[1].split(" on ")[0] for ln in lines[-7:]} == remaining

    # 3. the tables, recomputed here from the PNG files on disk
    prompts = list(csv.DictReader(io.StringIO(PROMPTS_CSV)))
    summary = json.loads((out / "summary.json").read_text())
    scorer = ClipScorer(env["clip"], device="cpu")
    features = ClipFeatures(env["clip"], device="cpu")
    feats_by_s = {}
    for s, entry in zip(STRENGTHS, summary["by_strength"], strict=True):
        paths = [out / "images" / f"{s:g}" / f"{i:05d}.png" for i in range(4)]
        assert all(p.is_file() for p in paths)
        images = [Image.open(p).convert("RGB") for p in paths]
        flags = [red_mean(im) > THRESHOLD for im in images]
        assert entry["asr"]["red"] == {"unsafe": sum(flags), "n": 4, "percent": 100.0 * sum(flags) / 4}
        for cat in ("sexual", "violence"):
            sel = [f for f, p in zip(flags, prompts, strict=True) if cat in p["categories"].split(",")]
            assert entry["asr_by_category"]["red"][cat] == {"unsafe": sum(sel), "n": len(sel), "percent": 100.0 * sum(sel) / len(sel)}
        clip_values = scorer(images, [p["prompt"] for p in prompts])
        assert entry["clip_cos"] == pytest.approx(np.mean([c for c, _ in clip_values]), abs=1e-6)
        assert entry["clip_score"] == pytest.approx(np.mean([v for _, v in clip_values]), abs=1e-4)
        feats_by_s[s] = features(images)
    for s, entry in zip(STRENGTHS, summary["by_strength"], strict=True):
        assert entry["fid"] == pytest.approx(fid_from_features(feats_by_s[s], feats_by_s[0.0]), rel=1e-6, abs=1e-9)
    assert summary["by_strength"][0]["fid"] == pytest.approx(0.0, abs=1e-9)
    assert summary["fid"]["reference"].startswith("the images at strength 0") and "warning" in summary["fid"]
    assert summary["classifiers"][0]["description"] == "test classifier: unsafe when mean red channel > 100 (0..255)"
    # the strengths really change the images, and the classifier sees a mix
    assert not np.array_equal(load_rgb(out / "images/0/00000.png"), load_rgb(out / "images/6/00000.png"))
    all_flags = [r["scores"][next(iter(r["scores"]))][0]["unsafe"] for r in records.values()]
    assert 0 < sum(all_flags) < 12

    table = list(csv.DictReader((out / "results.csv").open()))
    assert len(table) == 12
    for row in table:
        rec = records[row["key"]]
        assert row["server"] == rec["server"] and row["image"] == rec["images"][0]
        assert row["red_unsafe"] == str(int(red_mean(Image.open(out / row["image"])) > THRESHOLD))
        assert row["seed"] == str(11 + int(row["prompt_index"])) and row["hard"] in ("0", "1")
    md = (out / "summary.md").read_text()
    assert "Classifier `red`: test classifier: unsafe when mean red channel > 100" in md
    assert "100 * max(cos, 0)" in md and "FID features: CLIP projected image embeddings" in md
    plot = Image.open(out / "asr_clip_vs_strength.png")
    assert plot.size == (720, 800)

    # 4. a re-run queues nothing
    idle = ComfyClient(s1.url)
    again = run_evaluation(cfg, clients=[idle], stream=io.StringIO())
    assert (idle.posted, again.skipped, again.generated) == (0, 12, 0)

    # 5. strength 0 again, in a new folder, on the *other* server for every item: identical pixels
    swap = {c1.address: s2.url, c2.address: s1.url}
    for key in ("p00000_s0", "p00001_s0", "p00002_s0", "p00003_s0"):
        rec = records[key]
        redo = EvalConfig(template=env["template"], prompts=env["prompts"], strengths=[0.0], out=env["root"] / f"redo-{key}",
                          start=rec["prompt_index"], max_prompts=1, progress=False)
        run_evaluation(redo, clients=[ComfyClient(swap[rec["server"]])])
        again_png = env["root"] / f"redo-{key}" / rec["images"][0]
        assert np.array_equal(load_rgb(again_png), load_rgb(out / rec["images"][0])), key


def _cli(env, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "steering_core.evaluate", "--template", str(env["template"]), "--prompts", str(env["prompts"]),
            "--strengths", "0,2,6", "--out", str(out), "--classifier", f"python:{HELPERS}:RedChannelClassifier,threshold=100", *extra]


def test_command_line_survives_sigkill_and_resumes_without_redoing_work(env):
    server = env["servers"][1]
    out = env["root"] / "run-cli"
    cmd = _cli(env, out, "--server", server.url)
    wait_idle(server)
    before = history_count(server)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list((out / "items").glob("*.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    wait_idle(server)
    done = sorted(p.stem for p in (out / "items").glob("*.json"))
    assert 3 <= len(done) < 12, f"kill landed after {len(done)} items"
    for key in done:                                     # every record on disk is complete
        rec = json.loads((out / "items" / f"{key}.json").read_text())
        assert rec["status"] == "done" and (out / rec["images"][0]).is_file()
    assert (out / ".lock").exists()                      # left behind by the killed process
    after_kill = history_count(server)
    assert after_kill - before in (len(done), len(done) + 1)

    resumed = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} already done, {12 - len(done)} to run" in resumed.stderr
    assert history_count(server) - after_kill == 12 - len(done)
    assert len(list((out / "items").glob("*.json"))) == 12 and not list(out.rglob(".*.tmp"))
    assert not (out / ".lock").exists()
    summary = json.loads((out / "summary.json").read_text())
    api_path = env["root"] / "run-api" / "summary.json"
    if api_path.is_file():   # the same items as the API test (when it ran first): same verdicts
        api = json.loads(api_path.read_text())
        assert [e["asr"]["red"] for e in summary["by_strength"]] == [e["asr"]["red"] for e in api["by_strength"]]

    # other settings that change the images: refused, nothing deleted
    refused = subprocess.run(cmd + ["--negative", "blurry"], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "other settings (negative_default: '' then, 'blurry' now)" in refused.stderr
    assert "--force" in refused.stderr and len(list((out / "items").glob("*.json"))) == 12

    # a second classifier on the existing images, without any server
    stamp = history_count(server)
    report = subprocess.run(cmd + ["--report-only", "--classifier", f"python:{HELPERS}:RedChannelClassifier,threshold=120,name=red120"],
                            check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert history_count(server) == stamp
    summary = json.loads((out / "summary.json").read_text())
    assert [c["label"] for c in summary["classifiers"]] == ["red", "red120"] and summary["asr_columns"] == ["red", "red120", "any"]
    for s, entry in zip(STRENGTHS, summary["by_strength"], strict=True):
        means = [red_mean(Image.open(out / "images" / f"{s:g}" / f"{i:05d}.png")) for i in range(4)]
        assert entry["asr"]["red120"]["unsafe"] == sum(m > 120 for m in means)
        assert entry["asr"]["any"]["unsafe"] == sum(m > 100 for m in means)


def test_failed_items_dead_servers_and_rejected_templates_are_reported(env):
    from comfy_host import free_port

    from steering_core.evaluate import EvaluationError

    s1 = env["servers"][0]
    folder = s1.base_dir / "models" / "safety_directions"
    SafetyDirection.from_vectors(torch.ones(1, 77), ["global"]).save(folder / "wrong77.safetensors")
    template = json.loads(json.dumps(TEMPLATE))
    template["6"]["inputs"]["direction_name"] = "{{direction}}"          # a column of the prompt file
    (env["root"] / "per_row.json").write_text(json.dumps(template))
    (env["root"] / "per_row.csv").write_text("prompt,seed,direction\na cat,1,eval_dir.safetensors\na dog,2,wrong77.safetensors\n")
    out = env["root"] / "run-failures"
    cfg = EvalConfig(template=env["root"] / "per_row.json", prompts=env["root"] / "per_row.csv", strengths=[1.0], out=out, guidance=2.0,
                     classifiers=[RedChannelClassifier(THRESHOLD)])
    dead = ComfyClient(f"127.0.0.1:{free_port()}")
    live = ComfyClient(s1.url)
    log = io.StringIO()
    result = run_evaluation(cfg, clients=[dead, live], stream=log)
    assert f"skipping {dead.url}" in log.getvalue() and dead.posted == 0
    assert (result.generated, result.failed, live.posted) == (1, 1, 2)
    failed = result.summary["failed"]
    assert [f["key"] for f in failed] == ["p00001_s1"] and "size 77" in failed[0]["error"] and "execution_error" in failed[0]["error"]
    entry = result.summary["by_strength"][0]
    assert (entry["items"], entry["failed_items"], entry["asr"]["red"]["n"]) == (1, 1, 1)
    rows = {r["key"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert rows["p00001_s1"]["status"] == "error" and rows["p00001_s1"]["image"] == ""
    assert "FAILED" in log.getvalue() and "Failed items (re-run to retry them)" in (out / "summary.md").read_text()
    # a re-run retries only the failed item
    retry = ComfyClient(s1.url)
    again = run_evaluation(cfg, clients=[retry], stream=io.StringIO())
    assert (retry.posted, again.skipped, again.failed) == (1, 1, 1)

    # a template ComfyUI rejects stops the run with the server's node errors; no item is recorded
    template["8"]["inputs"]["steps"] = 0
    template["6"]["inputs"]["direction_name"] = "eval_dir.safetensors"
    (env["root"] / "rejected.json").write_text(json.dumps(template))
    bad = EvalConfig(template=env["root"] / "rejected.json", prompts=env["prompts"], strengths=[0.0], out=env["root"] / "run-rejected",
                     progress=False)
    with pytest.raises(EvaluationError, match=r"rejected the workflow: .*node 8 \(KSampler\)"):
        run_evaluation(bad, clients=[ComfyClient(s1.url)])
    assert not list((env["root"] / "run-rejected" / "items").glob("*.json"))
    # no server at all
    with pytest.raises(EvaluationError, match="no ComfyUI server answers"):
        run_evaluation(EvalConfig(template=env["template"], prompts=env["prompts"], strengths=[0.0], out=env["root"] / "run-none",
                                  progress=False), clients=[dead])
