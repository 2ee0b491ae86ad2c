"""The benchmark's one table and its target checks, from the measured runs.

MB/s is always the same numerator for every tool: the logical disk content (allocated bytes of the VHDX
disks plus the VM files) divided by wall seconds, in 10^6 bytes. Stored is the repository size on disk
after the step.
"""

from __future__ import annotations

from tools import Run

MB = 1_000_000


def rate(run: Run, content: int) -> float:
    return (run.content or content) / MB / run.wall if run.wall > 0 else 0.0


def table(runs: list, content: int) -> str:
    columns = ("wall s", "MB/s", "CPU s", "CPU/wall")
    header = f"{'tool':<26} {'step':<20} " + " ".join(f"{c:>8}" for c in columns)
    header += f" {'peak RSS MB':>11} {'stored MB':>10}  runs (wall s)"
    lines = [header, "-" * len(header)]
    for run in runs:
        stored = f"{run.stored / MB:10.1f}" if run.stored else f"{'-':>10}"
        lines.append(
            f"{run.tool:<26} {run.step:<20} {run.wall:8.2f} {rate(run, content):8.1f} {run.cpu:8.2f} "
            f"{run.cpu / run.wall if run.wall else 0:8.2f} {run.peak_rss / MB:11.1f} {stored}  {repetitions(run)}"
        )
    return "\n".join(lines)


def repetitions(run: Run) -> str:
    """'median of N: min-max' for a repeated step, '1' for a single run."""
    if len(run.samples) < 2:
        return "1"
    return f"median of {len(run.samples)}: {min(run.samples):.2f}-{max(run.samples):.2f}"


def _find(runs: list, tool: str, step: str) -> Run:
    return next(r for r in runs if r.tool == tool and r.step == step)


def checks(runs: list, content: int, limit_seconds: float, peers: list) -> list:
    """(name, passed, detail) for each target of the data mover."""
    ours = _find(runs, "ours", "full")
    results = []
    for peer in peers:
        other = _find(runs, peer, "full")
        speed = rate(ours, content) / max(rate(other, content), 1e-9)
        passed = speed >= 3 and ours.stored <= other.stored
        detail = f"{speed:.1f}x; stored {ours.stored / MB:.0f} MB vs {other.stored / MB:.0f} MB"
        results.append((f"full >= 3x {peer} throughput, storing no more", passed, detail))
    share = rate(ours, content) / (content / MB / limit_seconds)
    results.append(
        ("full >= 70% of machine limit", share >= 0.7, f"{share * 100:.0f}% of {content / MB / limit_seconds:.0f} MB/s")
    )
    if "restic" in peers:
        speedup = _find(runs, "restic", "incremental").wall / _find(runs, "ours", "incremental+ranges").wall
        results.append(("incremental with ranges >= 20x restic", speedup >= 20, f"{speedup:.1f}x"))
    ours_runs = [r for r in runs if r.tool.startswith("ours")]
    peak = max(r.peak_rss for r in ours_runs)
    results.append(("peak RSS < 300 MB", peak < 300 * MB, f"{peak / MB:.0f} MB"))
    small, large = _find(runs, "ours (small disk)", "full"), _find(runs, "ours (4x larger disk)", "full")
    growth = large.peak_rss / small.peak_rss
    detail = f"{small.peak_rss / MB:.0f} MB -> {large.peak_rss / MB:.0f} MB ({growth:.2f}x)"
    results.append(("RSS flat as the disk grows (<= 1.25x)", growth <= 1.25, detail))
    cores = ours.cpu / ours.wall
    results.append(("both cores used (CPU/wall > 1.3)", cores > 1.3, f"{cores:.2f}"))
    return results


def render_checks(results: list) -> str:
    return "\n".join(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}" for name, ok, detail in results)
