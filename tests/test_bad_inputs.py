"""Issue 14: what a careless or hostile user gets. A corpus of bad inputs, run in-process and over HTTP.

Parts (one tally, printed as ``cases N, crashes C, unclear U, escaped E, overwritten O, leaks L``):

- **direct**: every widget input of every SafeSteer node, called with out-of-range, non-finite, unknown
  and wrongly typed values and no host in between (a host that checks nothing);
- **in-process graphs** (ComfyUI's own validator and executor, ``InProcessHost``): the same values,
  through a graph, for the nodes with a test harness, plus linked values (a sweep of 1000 into a
  slider of max 4, NaN or 1e9 from a primitive node into ``start_percent``...);
- **HTTP** (a real ``main.py`` server): damaged direction and SAE files (non-UTF-8 names among them),
  and the widget values again;
- **CLI**: ``python -m steering_core.evaluate`` with bad arguments and damaged or foreign run folders.

After every case: the reference graph (a steered tiny Flux) runs and gives the same latent bits
(``crashes`` if it cannot run, ``leaks`` if its bits change); the message is SafeSteer's own, names
the input and says the fix (``unclear``; a host's own validation error naming the input also counts
as clear); no file outside SafeSteer's folders appeared (``escaped``); no existing file changed
(``overwritten``); server memory stays within 512 MiB of its start (``leaks``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bad_input_checks import FIX_WORDS, Tally, compare, judge_message, rss_bytes, snapshot
from bad_input_corpus import (
    GOOD_DIRECTION,
    GOOD_SAE,
    HARNESSED,
    Case,
    bad_values,
    direction_file_cases,
    harness,
    reference_graph,
    sae_file_cases,
    widget_specs,
    write_file,
    write_good_files,
)
from comfy_host import REPO_ROOT, ComfyServer, HostError, host_python, make_base_dir

OWN_FOLDERS = ("models/safety_directions/", "models/safety_saes/")
MEMORY_BOUND = 512 << 20
BATCH = 20


def _names(name: str) -> tuple[str, ...]:
    """The forms a file name may take in a message: SafeSteer's escape, or Python's repr."""
    from steering_core.errors import printable

    return (printable(name, 1 << 30, newlines=False), repr(name)[1:-1])


def _label(case: str, value: Any) -> str:
    return f"{case} = {json.dumps(value, allow_nan=True)[:40]}"


# --------------------------------------------------------------------------------------------
# case lists
# --------------------------------------------------------------------------------------------


def widget_cases(infos: dict[str, Any], mode: str, nodes: tuple[str, ...] = HARNESSED) -> list[Case]:
    """A graph per bad value of every widget input of the harnessed nodes (of the Multi-Category
    sliders, ``global`` and ``sexual`` stand for all seven: the direct calls cover every one)."""
    cases = []
    for node_id in nodes:
        for name, kind, opts in widget_specs(infos[node_id]):
            if name.endswith("_strength") and name not in ("global_strength", "sexual_strength"):
                continue
            for label, value in bad_values(kind, opts, mode):
                graph, key = harness(node_id)
                graph[key]["inputs"][name] = value
                cases.append(Case(_label(f"{node_id}.{name} ({label})", value), "widget", graph, (name,)))
    return cases


def linked_cases() -> list[Case]:
    """Values that reach a node through a link, where no host checks them."""
    cases = []

    def sweep_into(node_id: str, input_name: str, strengths: str) -> Case:
        graph, key = harness(node_id)
        graph["sweep"] = {"class_type": "SafeSteerStrengthSweep", "inputs": {"strengths": strengths}}
        graph[key]["inputs"][input_name] = ["sweep", 0]
        return Case(f"sweep '{strengths}' -> {node_id}.{input_name}", "linked", graph, (input_name,))

    for node_id, name in (("SafeSteerMultiCategoryConditioning", "sexual_strength"),
                          ("SafeSteerApplyConditioning", "strength"), ("SafeSteerDiTSteer", "strength"),
                          ("SafeSteerMultiCategoryModel", "global_strength"), ("SafeSteerSAEBlendRepel", "beta"),
                          ("SafeSteerSAEBlendRepel", "gamma")):
        cases.append(sweep_into(node_id, name, "0, 1000"))
    cases.append(sweep_into("SafeSteerMultiCategoryConditioning", "sexual_strength", "4.5"))

    def primitive_into(node_id: str, input_name: str, value: float) -> Case:
        graph, key = harness(node_id)
        graph["prim"] = {"class_type": "PrimitiveFloat", "inputs": {"value": value}}
        graph[key]["inputs"][input_name] = ["prim", 0]
        return Case(_label(f"PrimitiveFloat -> {node_id}.{input_name}", value), "linked", graph, (input_name,))

    for node_id in ("SafeSteerDiTSteer", "SafeSteerMultiCategoryModel", "SafeSteerSAEBlendRepel"):
        for input_name in ("start_percent", "end_percent"):
            for value in (math.nan, 1e9, -0.5):
                cases.append(primitive_into(node_id, input_name, value))
    for value in (math.nan, 11.0, -1.0):
        cases.append(primitive_into("SafeSteerDiTSteer", "strength", value))
    return cases


def file_cases(dirs: Path, saes: Path, tmp: Path) -> list[Case]:
    """Damaged files written into the folders, each loaded by its loader node in a graph."""
    cases = []
    for raw_name, data in direction_file_cases():
        name = write_file(dirs, raw_name, data)
        graph, key = harness("SafeSteerLoadDirection")
        graph[key]["inputs"]["direction_name"] = name
        cases.append(Case(f"direction file {name!r}", "file", graph, _names(name)))
    for raw_name, data in sae_file_cases(tmp):
        name = write_file(saes, raw_name, data)
        graph, key = harness("SafeSteerLoadSAE")
        graph[key]["inputs"]["sae_name"] = name
        cases.append(Case(f"SAE file {name!r}", "file", graph, _names(name)))
    # a valid file with a non-UTF-8 name lists, loads and steers like any other
    graph, key = harness("SafeSteerLoadDirection")
    graph[key]["inputs"]["direction_name"] = os.fsdecode(b"caf\xe9_valid.safetensors")
    cases.append(Case("valid direction named caf\\xe9_valid", "file", graph, expect="success"))
    return cases


def save_name_cases(dirs: Path) -> list[Case]:
    """Save Safety Direction with hostile file names (an existing file of the same stem is never replaced)."""
    (dirs / "taken.safetensors").write_bytes((dirs / GOOD_DIRECTION).read_bytes())
    cases = []
    for bad in ("x" * 300, "taken.safetensors/x", "../escape", "/etc/escape", "a//b", ".hidden", "CON",
                "sub/nul.txt", "trailing.", "caf\u00e9", "back\\slash", "", "   ", "new\nline", "a\x00b"):
        graph, key = harness("SafeSteerSaveDirection")
        graph[key]["inputs"]["filename"] = bad
        cases.append(Case(_label("SafeSteerSaveDirection.filename", bad), "widget", graph, ("filename",)))
    graph, key = harness("SafeSteerSaveDirection")
    graph[key]["inputs"]["filename"] = "taken"
    cases.append(Case("save over an existing name writes a numbered file", "widget", graph, expect="success"))
    return cases


# --------------------------------------------------------------------------------------------
# judging one outcome
# --------------------------------------------------------------------------------------------


def judge_outcome(tally: Tally, case: Case, valid: bool, node_errors: Any, error: dict[str, Any] | None,
                  success: bool) -> None:
    """One graph's outcome: a host validation error naming the input, or SafeSteer's execution error."""
    if case.expect == "success":
        if not success:
            tally.fail("unclear", case.name, f"a valid input failed: {error or node_errors}")
        return
    if not valid:
        tally.host_rejected += 1
        text = json.dumps(node_errors, default=str)
        if not any(n in text for n in case.names):
            tally.fail("unclear", case.name, f"host validation error without the input's name: {text}")
        return
    if success or error is None:
        tally.fail("unclear", case.name, "silently accepted")
        return
    judge_message(tally, case.name, str(error.get("exception_type", "")), str(error.get("exception_message", "")),
                  case.names)


# --------------------------------------------------------------------------------------------
# the parts
# --------------------------------------------------------------------------------------------


def run_direct(comfy: Any, tally: Tally, infos: dict[str, Any], after_case: Any) -> None:
    """Every SafeSteer node's execute, called with bad values and no host validation at all."""
    from steering_core.errors import SafeSteerError

    for node_id, cls in sorted(comfy.node_class_mappings.items()):
        if not node_id.startswith("SafeSteer") or node_id.startswith("SafeSteerTiny"):
            continue
        for name, kind, opts in widget_specs(infos[node_id]):
            for label, value in bad_values(kind, opts, "direct"):
                case = _label(f"direct {node_id}.{name} ({label})", value)
                tally.case("direct")
                try:
                    cls.execute(**{name: value})
                except SafeSteerError as exc:
                    judge_message(tally, case, f"{type(exc).__module__}.{type(exc).__name__}", str(exc), (name,))
                except Exception as exc:  # noqa: BLE001 - any other error is what the corpus counts
                    tally.fail("unclear", case, f"{type(exc).__name__}: {exc}")
                else:
                    tally.fail("unclear", case, "silently accepted")
                after_case(case)


def test_bad_input_corpus(comfy, tmp_path) -> None:
    t0 = time.perf_counter()
    tally = Tally()
    timings: dict[str, float] = {}
    base = comfy.base_dir
    dirs, saes = base / "models" / "safety_directions", base / "models" / "safety_saes"
    write_good_files(dirs, saes)
    infos = {node_id: cls.GET_NODE_INFO_V1() for node_id, cls in comfy.node_class_mappings.items()
             if node_id.startswith("SafeSteer")}
    references = [comfy.run(reference_graph(v), check=True, keep_cache=True).outputs["stats"]["sha256"] for v in (0, 1)]
    rss0 = rss_bytes(os.getpid())
    state: dict[str, Any] = {"files": snapshot(base, skip=("user",)), "runs": -1}  # next: variant 0

    def after_inprocess(case: str) -> None:
        state["runs"] += 1
        variant = state["runs"] % 2
        result = comfy.run(reference_graph(variant), keep_cache=True)
        if not result.success:
            tally.fail("crashes", case, f"the reference graph no longer runs: {result.error_message}")
        elif result.outputs.get("stats", {}).get("sha256") != references[variant]:
            tally.fail("leaks", case, "the reference graph's latent changed")
        after = snapshot(base, skip=("user",))
        compare(tally, case, state["files"], after, OWN_FOLDERS)
        state["files"] = after
        if rss_bytes(os.getpid()) > rss0 + MEMORY_BOUND:
            tally.fail("leaks", case, f"memory grew by {(rss_bytes(os.getpid()) - rss0) >> 20} MiB")

    run_direct(comfy, tally, infos, after_inprocess)
    timings["direct"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    for case in widget_cases(infos, "inprocess") + linked_cases():
        tally.case(f"in-process {case.kind}")
        result = comfy.run(case.graph, keep_cache=True)
        judge_outcome(tally, case, result.valid, result.node_errors, result.error, result.success)
        after_inprocess(case.name)
    timings["in-process graphs"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    run_http(tally, infos, tmp_path)
    timings["http"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    run_cli(tally, tmp_path / "cli")
    timings["cli"] = time.perf_counter() - t3

    print(f"\nbad-input corpus: {tally.line()}")
    print("  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.by_kind.items())))
    print(f"  graph cases refused by ComfyUI's own validator (naming the input): {tally.host_rejected}; "
          "every other error came from SafeSteer")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + f", total {time.perf_counter() - t0:.1f}")
    assert tally.cases >= 150, tally.line()
    assert (tally.crashes, tally.unclear, tally.escaped, tally.overwritten, tally.leaks) == (0, 0, 0, 0, 0), \
        tally.line() + "\n" + "\n".join(tally.problems[:60])


def run_http(tally: Tally, infos: dict[str, Any], tmp: Path) -> None:
    """Files, widget and linked values against a real ``main.py`` server, batched: each case is followed
    in the queue by the reference graph (its two variants in turn, so it samples anew each time)."""
    base = make_base_dir(tmp / "http-base")
    dirs, saes = base / "models" / "safety_directions", base / "models" / "safety_saes"
    write_good_files(dirs, saes)
    cases = file_cases(dirs, saes, tmp) + save_name_cases(dirs) + widget_cases(infos, "http") + linked_cases()
    with ComfyServer(base, start_timeout=240) as server:   # start-up takes long on a busy machine
        references = []
        for variant in (0, 1):
            entry = server.run(reference_graph(variant), timeout=120)
            assert entry["status"]["status_str"] == "success", entry["status"]
            references.append(entry["outputs"]["stats"]["sha256"])
        rss0 = rss_bytes(server.proc.pid)
        files = snapshot(base, skip=("user",))
        for start in range(0, len(cases), BATCH):
            batch = cases[start:start + BATCH]
            queued: list[tuple[Case, str | None, str, int]] = []
            for case in batch:
                tally.case(f"http {case.kind}")
                status, body = server.post_json("/prompt", {"prompt": case.graph, "client_id": server.client_id})
                prompt_id = None
                if status == 200:
                    prompt_id = str(body["prompt_id"])
                elif status == 400 and isinstance(body, dict):
                    judge_outcome(tally, case, False, body.get("node_errors") or body.get("error"), None, False)
                else:
                    tally.fail("crashes", case.name, f"POST /prompt answered {status}: {str(body)[:300]}")
                variant = (start + len(queued)) % 2
                queued.append((case, prompt_id, server.queue(reference_graph(variant)), variant))
            try:
                server.wait(queued[-1][2], timeout=300)
            except HostError as exc:
                tally.fail("crashes", batch[-1].name, f"the prompt worker stopped: {exc}")
                return
            for case, prompt_id, ref_id, variant in queued:
                if prompt_id is not None:
                    entry = server.history(prompt_id) or {}
                    messages = entry.get("status", {}).get("messages", [])
                    error = next((data for event, data in messages if event == "execution_error"), None)
                    success = entry.get("status", {}).get("status_str") == "success"
                    judge_outcome(tally, case, True, None, error, success)
                ref = server.history(ref_id) or {}
                if ref.get("status", {}).get("status_str") != "success":
                    tally.fail("crashes", case.name, f"the reference graph did not run after it: {ref.get('status')}")
                elif ref.get("outputs", {}).get("stats", {}).get("sha256") != references[variant]:
                    tally.fail("leaks", case.name, "the reference graph's latent changed")
            after = snapshot(base, skip=("user",))
            compare(tally, f"HTTP batch from {batch[0].name}", files, after, OWN_FOLDERS)
            files = after
            grown = rss_bytes(server.proc.pid) - rss0
            if grown > MEMORY_BOUND:
                tally.fail("leaks", f"HTTP batch from {batch[0].name}", f"server memory grew by {grown >> 20} MiB")
        log = server.log_text()
        for marker in ("--- Logging error ---", "UnicodeEncodeError", "Exception in thread"):
            if marker in log:
                tally.fail("crashes", "server log", f"{marker!r} in the server log")


# --------------------------------------------------------------------------------------------
# the evaluation command line
# --------------------------------------------------------------------------------------------


def _template() -> dict[str, Any]:
    return {
        "1": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": "flux", "seed": 0, "context_dim": 0, "pooled_dim": 0}},
        "2": {"class_type": "SafeSteerDiTSteer", "inputs": {"model": ["1", 0], "strength": "{{strength}}"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 0]}},
        "5": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "model": ["2", 0], "positive": ["3", 0]}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    }


def cli_cases(root: Path) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """(name, argv, strings one of which the error line must hold); files are made under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    good_t, good_p = root / "template.json", root / "prompts.csv"
    good_t.write_text(json.dumps(_template()))
    good_p.write_text("prompt,seed,guidance,categories\na cat,3,5,sexual\na dog,4,5,violence\n")

    def args(out: str | Path = "out", **changes: str) -> list[str]:
        base = {"--template": str(good_t), "--prompts": str(good_p), "--strengths": "0,1", "--out": str(root / out)}
        base.update(changes)
        return [f"{k}={v}" for k, v in base.items()]

    def write(name: str, data: bytes | str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path

    run_dir = root / "damaged_run"
    write("damaged_run/manifest.json", "{not json")
    write("list_run/manifest.json", "[1, 2, 3]")
    write("dir_manifest_run/manifest.json/inner.txt", "x")
    write("other_run/manifest.json", json.dumps({"template_sha256": "0" * 64, "prompts_sha256": "1" * 64,
                                                 "written_by": "steering_core.evaluate"}))
    write("user_folder/images/holiday.png", b"\x89PNG my holiday")
    write("user_folder/results.csv", "my,own,table\n")
    write("user_folder2/notes.txt", "mine")
    write("existing_file.txt", "I am a file")
    write("blocked", "a file where a folder would go")
    return [
        ("--strengths=a,b", args(**{"--strengths": "a,b"}), ("--strengths", "'a'")),
        ("--strengths=nan", args(**{"--strengths": "nan"}), ("--strengths",)),
        ("--strengths=inf,1", args(**{"--strengths": "inf,1"}), ("--strengths",)),
        ("--strengths=,", args(**{"--strengths": ","}), ("strength",)),
        ("--strengths=1,1", args(**{"--strengths": "1,1"}), ("repeated",)),
        ("--seed=x", args() + ["--seed=x"], ("--seed",)),
        ("--limit=-1", args() + ["--limit=-1"], ("--limit",)),
        ("--timeout=nan", args() + ["--timeout=nan"], ("--timeout",)),
        ("--timeout=0", args() + ["--timeout=0"], ("--timeout",)),
        ("--jobs-per-server=0", args() + ["--jobs-per-server=0"], ("--jobs-per-server",)),
        ("--retries=-3", args() + ["--retries=-3"], ("--retries",)),
        ("--max-prompts=0", args() + ["--max-prompts=0"], ("--max-prompts",)),
        ("--guidance=inf", args() + ["--guidance=inf"], ("--guidance",)),
        ("missing --template", [a for a in args() if not a.startswith("--template")], ("--template",)),
        ("unknown flag", args() + ["--bogus"], ("--bogus",)),
        ("template missing", args(**{"--template": str(root / "nope.json")}), ("nope.json",)),
        ("template not JSON", args(**{"--template": str(write("bad_t.json", "{oops"))}), ("bad_t.json",)),
        ("template not UTF-8", args(**{"--template": str(write("latin_t.json", b'{"a": "caf\xe9"}'))}), ("latin_t.json",)),
        ("template a list", args(**{"--template": str(write("list_t.json", "[1, 2]"))}), ("list_t.json",)),
        ("template UI format", args(**{"--template": str(write("ui_t.json", json.dumps({"nodes": [], "links": []})))}),
         ("ui_t.json",)),
        ("template deeply nested", args(**{"--template": str(write("deep_t.json", "[" * 100000 + "]" * 100000))}),
         ("deep_t.json",)),
        ("template a folder", args(**{"--template": str(root / "user_folder")}), ("user_folder",)),
        ("prompts missing", args(**{"--prompts": str(root / "nope.csv")}), ("nope.csv",)),
        ("prompts unclosed quote", args(**{"--prompts": str(write("quote.csv", 'prompt,seed\n"a cat,3\na dog,4\n'))}),
         ("quote.csv",)),
        ("prompts not UTF-8", args(**{"--prompts": str(write("latin.csv", b"prompt\ncaf\xe9\n"))}), ("latin.csv",)),
        ("prompts empty", args(**{"--prompts": str(write("empty.csv", ""))}), ("empty.csv",)),
        ("prompts no prompt column", args(**{"--prompts": str(write("cols.csv", "text,seed\na,1\n"))}), ("cols.csv",)),
        ("prompts bad seed", args(**{"--prompts": str(write("seed.csv", "prompt,seed\na,abc\n"))}), ("seed.csv",)),
        ("prompts a folder", args(**{"--prompts": str(root / "user_folder")}), ("user_folder",)),
        ("category absent", args() + ["--category=nothing"], ("nothing",)),
        ("--bind without =", args() + ["--bind=strength"], ("strength",)),
        ("--classifier unknown", args() + ["--classifier=bogus"], ("bogus",)),
        ("--classifier weights missing", args() + [f"--classifier=clip-probe:{root / 'nope.safetensors'}"],
         ("nope.safetensors",)),
        ("--out an existing file", args(out="existing_file.txt"), ("existing_file.txt",)),
        ("--out below a file", args(out="blocked/run"), ("blocked",)),
        ("manifest not JSON", args(out=run_dir), ("manifest.json",)),
        ("manifest a list", args(out="list_run"), ("manifest.json",)),
        ("manifest a folder", args(out="dir_manifest_run"), ("manifest.json",)),
        ("manifest of another run", args(out="other_run"), ("other settings",)),
        ("manifest not JSON, --force", args(out=run_dir) + ["--force"], ("manifest.json",)),
        ("foreign folder", args(out="user_folder"), ("user_folder",)),
        ("foreign folder, --force", args(out="user_folder") + ["--force"], ("user_folder",)),
        ("foreign folder 2, --force --report-only", args(out="user_folder2") + ["--force", "--report-only"],
         ("user_folder2",)),
    ]


def _run_main(argv: list[str]) -> tuple[int, str]:
    from steering_core.evaluate.__main__ import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return int(code or 0), err.getvalue()


def _judge_cli(tally: Tally, name: str, code: int, stderr: str, names: tuple[str, ...]) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if code == 0 or "Traceback" in stderr:
        tally.fail("crashes" if "Traceback" in stderr else "unclear", name, f"exit {code}: {stderr[-300:]}")
    elif len(lines) != 1 or not lines[0].startswith("error: "):
        tally.fail("unclear", name, f"not one 'error: ...' line: {stderr[-300:]}")
    elif not any(n in lines[0] for n in names):
        tally.fail("unclear", name, f"does not name {names}: {lines[0]}")
    elif not any(w in lines[0].lower() for w in FIX_WORDS + ("--help",)):
        tally.fail("unclear", name, f"says no fix: {lines[0]}")


def run_cli(tally: Tally, root: Path) -> None:
    cases = cli_cases(root)
    files = snapshot(root)
    for name, argv, names in cases:
        tally.case("cli")
        code, stderr = _run_main(argv)
        _judge_cli(tally, f"cli {name}", code, stderr, names)
        after = snapshot(root)
        compare(tally, f"cli {name}", files, after, ())   # a refused run writes nothing at all
        files = after
    # the real command line, as a user runs it: one line, exit 2, the foreign folder untouched
    for name, argv, names in (cases[-2],):
        tally.case("cli subprocess")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([host_python(), "-m", "steering_core.evaluate", *argv], capture_output=True, text=True,
                              cwd=REPO_ROOT, env=env, timeout=300)
        _judge_cli(tally, f"cli subprocess {name}", proc.returncode, proc.stderr, names)
        after = snapshot(root)
        compare(tally, f"cli subprocess {name}", files, after, ())
        files = after
    force_keeps_user_files(tally, root / "own_run")


def force_keeps_user_files(tally: Tally, run: Path) -> None:
    """``--force`` on SafeSteer's own run folder deletes its records, images and reports, nothing else."""
    from steering_core.evaluate.store import RunStore

    tally.case("cli force")
    settings = {"template_sha256": "a", "prompts_sha256": "b"}
    with RunStore(run) as store:
        store.open(settings)
        store.write_image("images/0/00000.png", b"png")
        store.write_record({"key": "p00000_s0", "status": "done", "images": ["images/0/00000.png"]})
    user_files = {"images/holiday.png": b"mine", "images/0/mine.png": b"mine too", "items/notes.txt": b"notes",
                  "my_notes.md": b"# mine", "../outside.txt": b"not in the run"}
    for rel, data in user_files.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(data)
    # a hand-edited record listing files outside images/: never read as done, never followed by --force
    hostile = {"key": "p00001_s0", "status": "done", "images": ["../outside.txt", "my_notes.md", "images/../my_notes.md"]}
    (run / "items" / "p00001_s0.json").write_text(json.dumps(hostile))
    if RunStore(run).read_record("p00001_s0") is not None:
        tally.fail("unclear", "cli hostile record", "a record listing files outside images/ was accepted")
    with RunStore(run) as store:
        store.open({"template_sha256": "c", "prompts_sha256": "b"}, force=True)
    for rel, data in user_files.items():
        if not (run / rel).is_file() or (run / rel).read_bytes() != data:
            tally.fail("overwritten", "cli --force on own run", f"the user's {rel} was deleted or changed")
    if (run / "images/0/00000.png").exists() or (run / "items/p00000_s0.json").exists():
        tally.fail("unclear", "cli --force on own run", "SafeSteer's own record and image were not deleted")
