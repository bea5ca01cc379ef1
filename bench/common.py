"""Timing and memory helpers shared by the benchmarks (ratios measured in one run)."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_ratio(candidate: Callable[[], object], reference: Callable[[], object], device: torch.device,
                      rounds: int = 5) -> tuple[float, float, float]:
    """Median times of candidate and reference, alternating runs so drift affects both alike.

    Returns ``(candidate_s, reference_s, candidate_s / reference_s)``.
    """
    candidate()
    reference()
    sync(device)
    cand, ref = [], []
    for _ in range(rounds):
        for fn, bucket in ((reference, ref), (candidate, cand)):
            start = time.perf_counter()
            fn()
            sync(device)
            bucket.append(time.perf_counter() - start)
    c, r = statistics.median(cand), statistics.median(ref)
    return c, r, c / r


def peak_extra_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak memory allocated while ``fn`` runs, above what was allocated before (output included).

    CUDA: the caching allocator's peak counter. CPU: the profiler's allocation events, summed in
    time order (allocations positive, frees negative) and maximised.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del result
        return int(peak)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    del result
    # An op event's cpu_memory_usage includes its children's; keep each op's own share ("self"),
    # placed at its start, plus the allocator's standalone "[memory]" events (mostly frees).
    timeline = []
    for event in prof.events():
        if event.name == "[memory]":
            amount = event.cpu_memory_usage
        else:
            amount = event.cpu_memory_usage - sum(child.cpu_memory_usage for child in event.cpu_children)
        if amount:
            timeline.append((event.time_range.start, amount))
    events = [amount for _, amount in sorted(timeline, key=lambda item: item[0])]
    running = peak = 0
    for amount in events:
        running += amount
        peak = max(peak, running)
    return int(peak)


def round_robin_times(fns: dict[str, Callable[[], object]], device: torch.device,
                      rounds: int = 5) -> dict[str, dict[str, list[float]]]:
    """Times of every ``fn`` over ``rounds`` rounds; each round runs each fn once, in an order rotated
    from round to round, so drift and load from other processes reach all of them alike.

    Returns ``{name: {"wall": [...], "cpu": [...]}}``: wall-clock seconds, and this process's CPU seconds
    (all its threads; on a shared machine they move far less with outside load than wall time does).
    Ratios are best read per round (``times[a]["wall"][i] / times[b]["wall"][i]``, then the median over
    rounds): the runs of one round are seconds apart, so a burst of outside load moves both sides alike.
    """
    names = list(fns)
    for name in names:
        fns[name]()
    sync(device)
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start, cpu = time.perf_counter(), time.process_time()
            fns[name]()
            sync(device)
            times[name]["wall"].append(time.perf_counter() - start)
            times[name]["cpu"].append(time.process_time() - cpu)
    return times


def profile_tables(step: Callable[[object], object], models: dict[str, object], device: torch.device,
                   rounds: int = 3, row_limit: int = 25) -> str:
    """Profiler tables (self CPU time per op) of ``rounds`` calls of ``step(model)`` for each named model,
    after one warm-up call each."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    tables = []
    for name, model in models.items():
        step(model)
        sync(device)
        with torch_profile(activities=activities) as prof:
            for _ in range(rounds):
                step(model)
            sync(device)
        tables.append(f"== {name}, {rounds} steps ==\n"
                      + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit))
    return "\n".join(tables)


def spread(values: list[float]) -> dict[str, object]:
    """``{"ratio": median, "ratio_min", "ratio_max", "repeat_ratios"}`` of per-repeat ratios."""
    return {"ratio": statistics.median(values), "ratio_min": min(values), "ratio_max": max(values),
            "repeat_ratios": list(values)}


def compare(fns: dict[str, Callable[[], object]], reference: str, device: torch.device, repeats: int = 5,
            rounds: int = 3) -> dict[str, dict[str, object]]:
    """Each ``fn`` against ``fns[reference]``, interleaved (:func:`round_robin_times`), ``repeats`` times.

    A repeat's ratio is the median over its ``rounds`` of ``fn / reference`` within a round (the runs of a
    round are seconds apart, so outside load reaches both alike); the row reports the median over repeats
    (what a target is judged on) with the min and max, and the medians of the wall and CPU seconds.
    Returns ``{name: {"ratio", "ratio_min", "ratio_max", "repeat_ratios", "cpu_ratio", "seconds",
    "reference_seconds", "repeats", "rounds"}}`` for every name but the reference.
    """
    per_repeat: dict[str, list[float]] = {name: [] for name in fns if name != reference}
    cpu_repeat: dict[str, list[float]] = {name: [] for name in per_repeat}
    walls: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        times = round_robin_times(fns, device, rounds=rounds)
        ref_wall, ref_cpu = times[reference]["wall"], times[reference]["cpu"]
        for name in fns:
            walls[name] += times[name]["wall"]
        for name in per_repeat:
            per_repeat[name].append(statistics.median(a / b for a, b in zip(times[name]["wall"], ref_wall)))
            cpu_repeat[name].append(statistics.median(a / max(b, 1e-9) for a, b in zip(times[name]["cpu"], ref_cpu)))
    return {name: {**spread(values), "cpu_ratio": statistics.median(cpu_repeat[name]),
                   "seconds": statistics.median(walls[name]), "reference_seconds": statistics.median(walls[reference]),
                   "repeats": repeats, "rounds": rounds}
            for name, values in per_repeat.items()}


@contextlib.contextmanager
def busy_neighbour(processes: int = 1) -> Iterator[int]:
    """Competing load while the block runs: ``processes`` Python subprocesses spinning on a CPU core each
    (killed after). Yields how many were started."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.2)  # let them reach the scheduler
        yield len(spinners)
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()
