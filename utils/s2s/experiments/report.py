"""Reading a results file: per arm the mean, spread and bootstrap interval over seeds, whether
each run's learning curve had flattened, and the deciding test against the control.

"Past noise": a run whose valid metric still rose by 10 % or more (relative) over the last
quarter of its steps had not finished learning; its arm is flagged, because a comparison of
arms that are still improving ranks their speed of learning, not where they end."""

from __future__ import annotations

import math
from dataclasses import dataclass

PAST_NOISE = 0.10  # the largest relative gain over the last quarter of a run's steps


def last_quarter_gain(record: dict, metric: str) -> float:
    """Relative change of `metric` over the last quarter of a run's curve: (final - value at
    3/4 of the steps) / |value at 3/4|; inf when it rose from 0."""
    points = record["curve"]["points"]
    before, last = points[len(points) - 1 - len(points) // 4][metric], points[-1][metric]
    if before == 0:
        return math.inf if last > 0 else 0.0
    return (last - before) / abs(before)


@dataclass
class ArmSummary:
    name: str
    change: str
    seeds: list[int]
    steps: list[int]
    scores: list[float]
    spread: object | None  # s2s.metrics.SeedSpread; None with fewer than 2 seeds
    gains: list[float]  # last-quarter gains of the runs (of the source runs, when decoding)
    length_ratio: float

    @property
    def still_learning(self) -> bool:
        return any(g >= PAST_NOISE for g in self.gains)


def summarize(results: dict) -> list[ArmSummary]:
    """One summary per arm, the control first."""
    from s2s.metrics import seed_spread

    metric = results["metric"]["name"]
    sources = {r["seed"]: r for r in results.get("source", {}).get("runs", [])}
    out = []
    for name, arm in results["arms"].items():
        runs = sorted((r for r in results["runs"] if r["arm"] == name), key=lambda r: r["seed"])
        scores = [r["final"][metric] for r in runs]
        curves = [sources[r["seed"]] if "source" in r else r for r in runs]
        change = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in arm["change"].items())
        out.append(ArmSummary(
            name, change or "(control)", [r["seed"] for r in runs], [r["steps"] for r in runs],
            scores, seed_spread(scores) if len(scores) >= 2 else None,
            [last_quarter_gain(c, metric) for c in curves if "curve" in c],
            sum(r["final"]["length_ratio"] for r in runs) / max(len(runs), 1)))
    return out


def _hypotheses(results: dict, arm: str) -> dict[int, tuple[list[str], list[list[str]]]]:
    return {r["seed"]: (r["hypotheses"], results["valid_sets"][r["valid_set"]]["references"])
            for r in results["runs"] if r["arm"] == arm}


def decide(results: dict, arm: str) -> list[str]:
    """The deciding test of `arm` against the control, as report lines."""
    from s2s.metrics import paired_test, seed_difference

    metric, control = results["metric"]["name"], results["control"]
    test, level = results["decide"]["test"], results["decide"]["level"]
    samples = results["decide"]["samples"]
    base = {r["seed"]: r["final"][metric] for r in results["runs"] if r["arm"] == control}
    other = {r["seed"]: r["final"][metric] for r in results["runs"] if r["arm"] == arm}
    lines = []
    if test == "seeds":
        d = seed_difference(list(base.values()), list(other.values()))
        verdict = ("differs (the interval excludes 0)" if d.excludes_zero()
                   else "no difference shown (the interval includes 0)")
        lines.append(f"{arm} - {control}: {d.difference:+.2f} {metric} over seeds, 95 % "
                     f"bootstrap interval [{d.low:+.2f}, {d.high:+.2f}], permutation p = "
                     f"{d.p_value:.3f} (the smallest these seeds allow: {d.smallest_p:.3f}): "
                     f"{verdict}")
        return lines
    method = "bootstrap" if test == "paired_bootstrap" else "randomization"
    mine, theirs = _hypotheses(results, arm), _hypotheses(results, control)
    shared = sorted(set(mine) & set(theirs))
    significant = 0
    for seed in shared:
        (hyps, refs), (base_hyps, base_refs) = mine[seed], theirs[seed]
        if refs != base_refs:
            lines.append(f"seed {seed}: the two arms were judged on different sentences; no "
                         "paired test")
            continue
        r = paired_test(base_hyps, hyps, refs, metric=metric, method=method, samples=samples)
        significant += r.significant(level)
        lines.append(f"seed {seed}: {arm} {r.system:.2f} vs {control} {r.baseline:.2f} "
                     f"({r.difference:+.2f}), paired {method} p = {r.p_value:.4f}")
    lines.append(f"{arm} vs {control}: significant at {level} in {significant} of "
                 f"{len(shared)} seeds")
    return lines


def format_report(results: dict) -> str:
    """The report `python -m s2s.experiments report NAME` prints."""
    metric = results["metric"]["name"]
    prov = results["provenance"]
    lines = [f"{results['experiment']} ({results['profile']} profile): {results['question']}",
             f"produced by `{results['command']}` at commit {prov['git_commit']}"
             f"{' (with uncommitted changes)' if prov['uncommitted_changes'] else ''}, "
             f"{', '.join(prov['device'])}, {', '.join(prov['precision']) or 'fp32'}, "
             f"{prov['date']}, CACHE_VERSION {prov['cache_version']}",
             f"metric: {metric} on {results['metric']['sentences']} valid sentences; budget: "
             f"{results['budget']}; deciding test: {results['decide']['test']}"]
    if results.get("speed"):
        rate = results["speed"]["steps_per_second"]
        lines.append("equal time: measured steps/s " + ", ".join(
            f"{a} {rate[a]:.2f} -> {results['speed']['steps'][a]:,} steps" for a in rate))
    lines.append("")
    lines.append(f"{'arm':18} {'seeds':>5} {'steps':>13} {'mean':>7} {'std':>6} "
                 f"{'95% interval':>16} {'len':>5}  last-quarter gain per run (len: output / "
                 "reference length)")
    summaries = summarize(results)
    for s in summaries:
        steps = f"{min(s.steps):,}" + (f"-{max(s.steps):,}" if max(s.steps) != min(s.steps)
                                       else "")
        spread = (f"{s.spread.mean:7.2f} {s.spread.std:6.2f} [{s.spread.low:6.2f}, "
                  f"{s.spread.high:6.2f}]" if s.spread else f"{s.scores[0]:7.2f}" + " " * 24)
        gains = " ".join("up from 0" if math.isinf(g) else f"{g:+.0%}" for g in s.gains)
        flag = "  STILL LEARNING: not past noise" if s.still_learning else ""
        lines.append(f"{s.name:18} {len(s.seeds):5} {steps:>13} {spread} "
                     f"{s.length_ratio:5.2f}  {gains}{flag}")
        lines.append(f"{'':18} change: {s.change}")
    lines.append("")
    for s in summaries[1:]:
        lines += decide(results, s.name)
    flagged = [s.name for s in summaries if s.still_learning]
    if flagged:
        lines.append(f"flagged: {', '.join(flagged)} still improved by {PAST_NOISE:.0%} or more "
                     "over the last quarter of their steps: train longer before concluding")
    return "\n".join(lines)
