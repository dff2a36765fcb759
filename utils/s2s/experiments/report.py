"""Reading a results file: per arm the mean, spread and bootstrap interval over seeds, whether
each run's learning curve had flattened, and the deciding test against the control.

"Past noise": a run whose valid metric still rose by 10 % or more (relative) over the last
quarter of its steps had not finished learning; its arm is flagged, because a comparison of
arms that are still improving ranks their speed of learning, not where they end."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

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


@dataclass
class Alike:
    """Arms at different token levels put on one scale: each run's outputs lower-cased, on the
    sentences every arm was judged on (matched by their word tokens, in the control's order),
    and those sentences' references from the control's valid set, lower-cased."""

    outputs: dict[tuple[str, int], list[str]]  # (arm, seed) -> one output per sentence
    references: list[list[str]]
    judged: int  # sentences in the control's valid set


def _kinds(run: dict) -> tuple[str, ...]:
    """A run's (source, target) tokenizers, the dataset's default when it names none."""
    from s2s.data import DEFAULT_TOKENIZERS

    data = run.get("settings", {}).get("data", {})
    default = DEFAULT_TOKENIZERS.get(data.get("dataset"), ("word", "word"))
    return tuple(data.get("tokenizers") or default)


def _by_words(sources: list[str]) -> dict[tuple[str, ...], int]:
    """{a source's word tokens: its first position}."""
    from s2s.text import tokenize_words

    index: dict[tuple[str, ...], int] = {}
    for i, source in enumerate(sources):
        index.setdefault(tuple(tokenize_words(source)), i)
    return index


def scored_alike(results: dict) -> Alike | None:
    """With arms at different token levels (words lower-cased, subwords and characters with the
    corpus's case), every run's outputs and the references on one scale; None when all arms
    share a level (each run's own scores stand)."""
    runs = results["runs"]
    if len({_kinds(r) for r in runs}) < 2:
        return None
    index = {key: _by_words(valid["sources"]) for key, valid in results["valid_sets"].items()}
    control = next(r for r in runs if r["arm"] == results["control"])
    base = index[control["valid_set"]]
    keys = [k for k in base if all(k in other for other in index.values())]
    if not keys:
        raise ValueError(f"{results['experiment']}: no valid sentence was judged by every arm, "
                         "so the arms cannot be scored alike: give them the same pairs "
                         "(max_len_counts = \"words\" for a character arm)")
    references = results["valid_sets"][control["valid_set"]]["references"]
    return Alike({(r["arm"], r["seed"]): [r["hypotheses"][index[r["valid_set"]][k]].lower()
                                          for k in keys] for r in runs},
                 [[ref.lower() for ref in references[base[k]]] for k in keys], len(base))


def bleu_tokenize(results: dict) -> str:
    """sacrebleu's tokenisation for the control's target side, as `judge` scores it: "zh" for
    a Chinese word-level ("zh") or subword target, "13a" otherwise."""
    from s2s.data import DEFAULT_TOKENIZERS
    from s2s.metrics import bleu_tokenizer
    from s2s.subwords import SUBWORD_KINDS

    control = next(r for r in results["runs"] if r["arm"] == results["control"])
    kind = _kinds(control)[1]
    if kind in SUBWORD_KINDS:  # pieces are scored as their language's word level
        dataset = control.get("settings", {}).get("data", {}).get("dataset")
        kind = DEFAULT_TOKENIZERS.get(dataset, ("word", "word"))[1]
    return bleu_tokenizer(kind)


def run_scores(results: dict) -> dict[tuple[str, int], dict]:
    """{(arm, seed): {"bleu", "chrf", "length_ratio"}}: each run's own final scores, or with
    arms at different levels its outputs and references as `scored_alike` gives them."""
    from s2s.metrics import corpus_bleu, corpus_chrf

    alike = scored_alike(results)
    if alike is None:
        return {(r["arm"], r["seed"]): r["final"] for r in results["runs"]}
    tokenize, scores = bleu_tokenize(results), {}
    for run_key, hypotheses in alike.outputs.items():
        bleu = corpus_bleu(hypotheses, alike.references, tokenize=tokenize)
        scores[run_key] = {
            "bleu": bleu.score, "chrf": corpus_chrf(hypotheses, alike.references).score,
            "length_ratio": bleu.details.sys_len / max(bleu.details.ref_len, 1)}
    return scores


def summarize(results: dict, scored: dict | None = None) -> list[ArmSummary]:
    """One summary per arm, the control first. scored: `run_scores(results)`, when already
    computed."""
    from s2s.metrics import seed_spread

    metric = results["metric"]["name"]
    sources = {r["seed"]: r for r in results.get("source", {}).get("runs", [])}
    scored = run_scores(results) if scored is None else scored
    out = []
    for name, arm in results["arms"].items():
        runs = sorted((r for r in results["runs"] if r["arm"] == name), key=lambda r: r["seed"])
        finals = [scored[name, r["seed"]] for r in runs]
        scores = [f[metric] for f in finals]
        curves = [sources[r["seed"]] if "source" in r else r for r in runs]
        change = shown_change(arm["change"])
        out.append(ArmSummary(
            name, change or "(control)", [r["seed"] for r in runs], [r["steps"] for r in runs],
            scores, seed_spread(scores) if len(scores) >= 2 else None,
            [last_quarter_gain(c, metric) for c in curves if "curve" in c],
            sum(f["length_ratio"] for f in finals) / max(len(runs), 1)))
    return out


def shown_change(change: dict[str, list]) -> str:
    """An arm's change, "table.key: control's -> arm's; ...". Files written before the
    declarations knew the defaults of model fields added later (ADDED_FIELDS) hold None for
    a side that left such a field out: it is shown as its real default, and dropped when
    the two sides are then equal."""
    from s2s.models.base import ADDED_FIELDS

    parts = []
    for key, (a, b) in change.items():
        table, _, field = key.partition(".")
        if table == "model" and field in ADDED_FIELDS:
            a, b = (ADDED_FIELDS[field] if v is None else v for v in (a, b))
        if a != b:
            parts.append(f"{key}: {a!r} -> {b!r}")
    return "; ".join(parts)


def _hypotheses(results: dict, arm: str) -> dict[int, tuple[list[str], list[list[str]]]]:
    """{seed: (hypotheses, references)} of `arm`'s runs, on one scale (`scored_alike`)."""
    alike = scored_alike(results)
    if alike is not None:
        return {seed: (outputs, alike.references)
                for (name, seed), outputs in alike.outputs.items() if name == arm}
    return {r["seed"]: (r["hypotheses"], results["valid_sets"][r["valid_set"]]["references"])
            for r in results["runs"] if r["arm"] == arm}


def decide(results: dict, arm: str, scored: dict | None = None) -> list[str]:
    """The deciding test of `arm` against the control, as report lines. scored:
    `run_scores(results)`, when already computed."""
    from s2s.metrics import paired_test, seed_difference

    metric, control = results["metric"]["name"], results["control"]
    test, level = results["decide"]["test"], results["decide"]["level"]
    samples = results["decide"]["samples"]
    scored = run_scores(results) if scored is None else scored
    base = {seed: scored[a, seed][metric] for a, seed in scored if a == control}
    other = {seed: scored[a, seed][metric] for a, seed in scored if a == arm}
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
        r = paired_test(base_hyps, hyps, refs, metric=metric, method=method, samples=samples,
                        tokenize=bleu_tokenize(results))
        significant += r.significant(level)
        lines.append(f"seed {seed}: {arm} {r.system:.2f} vs {control} {r.baseline:.2f} "
                     f"({r.difference:+.2f}), paired {method} p = {r.p_value:.4f}")
    lines.append(f"{arm} vs {control}: significant at {level} in {significant} of "
                 f"{len(shared)} seeds")
    return lines


def compute_line(results: dict) -> str:
    """What the runs cost: wall minutes of training and of judging (decoding, for a decode
    experiment), summed over the runs this experiment did itself (adopted runs were paid for
    by the experiment they came from)."""
    own = [r for r in results["runs"] if "adopted_from" not in r]
    train = sum(r.get("train_seconds", 0.0) for r in own) / 60
    judge = sum(r["eval_seconds"] for r in own) / 60
    prov = results["provenance"]
    adopted = len(results["runs"]) - len(own)
    return (f"compute: {len(own)} runs, {train:.1f} min of training and {judge:.1f} min of "
            f"judging (wall time, {prov.get('threads', '?')} torch thread(s) per process on "
            f"{', '.join(prov['device'])})"
            + (f"; {adopted} runs adopted from another experiment" if adopted else ""))


def format_gain(gain: float) -> str:
    """A last-quarter gain in whole percent, or to 0.1 % where whole percent would put it on
    the wrong side of the past-noise line (9.6 % is +9.6 %, not +10 %)."""
    if math.isinf(gain) or math.isnan(gain):
        return "up from 0" if gain > 0 else "n/a"
    if round(abs(gain), 2) >= PAST_NOISE > abs(gain):  # tenths, rounded towards zero
        return f"{math.copysign(math.floor(abs(gain) * 1000) / 1000, gain):+.1%}"
    return f"{gain:+.0%}"


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
    lines.append(compute_line(results))
    alike = scored_alike(results)
    if alike is not None:
        lines.append(f"scored alike: the arms were judged at different levels, so every run's "
                     f"outputs are lower-cased and scored against the control's references, "
                     f"lower-cased, on the {len(alike.references)} of its {alike.judged} "
                     f"sentences every arm was judged on (the runs' own scores and curves are "
                     f"on their level's text)")
    if results.get("speed"):
        rate = results["speed"]["steps_per_second"]
        lines.append("equal time: measured steps/s " + ", ".join(
            f"{a} {rate[a]:.2f} -> {results['speed']['steps'][a]:,} steps" for a in rate))
    lines.append("")
    lines.append(f"{'arm':18} {'seeds':>5} {'steps':>13} {'mean':>7} {'std':>6} "
                 f"{'95% interval':>16} {'len':>5}  last-quarter gain per run (len: output / "
                 "reference length)")
    scored = run_scores(results)
    summaries = summarize(results, scored)
    for s in summaries:
        steps = f"{min(s.steps):,}" + (f"-{max(s.steps):,}" if max(s.steps) != min(s.steps)
                                       else "")
        spread = (f"{s.spread.mean:7.2f} {s.spread.std:6.2f} [{s.spread.low:6.2f}, "
                  f"{s.spread.high:6.2f}]" if s.spread else f"{s.scores[0]:7.2f}" + " " * 24)
        gains = " ".join(format_gain(g) for g in s.gains)
        flag = "  STILL LEARNING: not past noise" if s.still_learning else ""
        lines.append(f"{s.name:18} {len(s.seeds):5} {steps:>13} {spread} "
                     f"{s.length_ratio:5.2f}  {gains}{flag}")
        lines.append(f"{'':18} change: {s.change}")
    lines.append("")
    for s in summaries[1:]:
        lines += decide(results, s.name, scored)
    flagged = [s.name for s in summaries if s.still_learning]
    if flagged:
        lines.append(f"flagged: {', '.join(flagged)} still improved by {PAST_NOISE:.0%} or more "
                     "over the last quarter of their steps: train longer before concluding")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Citing a committed result from a chapter


class ResultsError(ValueError):
    """A results file a chapter cites is missing, stale or incomplete."""


@dataclass
class Citation:
    """A committed results file as a chapter cites it: `print` shows the full report (question,
    command, device, date, per-arm spread, the deciding tests); `source` names where it came
    from; `arm(name)` is one arm's summary; `difference(arm)` the seeds test against the control
    (a `s2s.metrics.SeedDifference`), `paired(arm)` the per-seed paired tests
    (`s2s.metrics.PairedResult` by seed)."""

    name: str
    results: dict

    def __str__(self) -> str:
        return format_report(self.results)

    @property
    def source(self) -> str:
        prov = self.results["provenance"]
        commit = (f" at commit {prov['git_commit'][:7]}" if prov.get("git_commit")
                  else " outside a git checkout")
        if prov.get("uncommitted_changes"):
            commit += " (with uncommitted changes)"
        return (f"results/{self.name}.json, made by `{self.results['command']}` on "
                f"{', '.join(prov['device'])} ({', '.join(prov['precision']) or 'fp32'}) on "
                f"{prov['date'][:10]}{commit}, CACHE_VERSION {prov['cache_version']}")

    def curves(self) -> list[str]:
        """One line per run: its valid metric at each point of its curve, and the step of its
        lowest validation loss (the checkpoint every later point judges)."""
        lines = []
        for run in self.results["runs"]:
            curve = run.get("curve") or {}
            if not curve.get("val_loss"):  # a decoding experiment: no training curve
                continue
            loss, step = min(zip(curve["val_loss"], curve["val_steps"], strict=True))
            metric = self.results["metric"]["name"]
            points = ", ".join(f"{p[metric]:5.2f} at {p['step']:,}" for p in curve["points"])
            lines.append(f"{run['arm']:16} seed {run['seed']}: {points}; lowest validation "
                         f"loss {loss:.3f} at step {step:,}")
        return lines

    @cached_property
    def summaries(self) -> dict[str, ArmSummary]:
        """Every arm's summary by name (computed once: scoring levels alike takes seconds)."""
        return {s.name: s for s in summarize(self.results)}

    def arm(self, name: str) -> ArmSummary:
        by_name = self.summaries
        if name not in by_name:
            raise KeyError(f"arm {name!r} is not in {self.name}; its arms: {', '.join(by_name)}")
        return by_name[name]

    def difference(self, arm: str):
        """mean(arm) - mean(control) over seeds, with its interval and permutation p-value."""
        from s2s.metrics import seed_difference

        return seed_difference(self.arm(self.results["control"]).scores, self.arm(arm).scores)

    def paired(self, arm: str) -> dict:
        """{seed: PairedResult}: `arm` against the control on the same sentences, by the
        declaration's paired test (bootstrap unless it asks for randomization)."""
        from s2s.metrics import paired_test

        self.arm(arm)
        method = ("randomization" if self.results["decide"]["test"] == "paired_randomization"
                  else "bootstrap")
        mine = _hypotheses(self.results, arm)
        theirs = _hypotheses(self.results, self.results["control"])
        return {seed: paired_test(theirs[seed][0], mine[seed][0], mine[seed][1],
                                  metric=self.results["metric"]["name"], method=method,
                                  samples=self.results["decide"]["samples"],
                                  tokenize=bleu_tokenize(self.results))
                for seed in sorted(set(mine) & set(theirs)) if mine[seed][1] == theirs[seed][1]}


def cite(name: str, root: str | Path | None = None) -> Citation:
    """results/NAME.json under `root` (default: the first of the current directory and its
    parents with an experiments/ folder), checked against its declaration and this code's
    CACHE_VERSION first: a missing, stale or incomplete file raises ResultsError saying which
    command remakes it."""
    from s2s.experiments.declaration import find_root
    from s2s.experiments.results import check_results
    from s2s.experiments.runs import read_json

    root = find_root() if root is None else Path(root)
    problems = check_results(root, name)
    if problems:
        raise ResultsError("; ".join(problems))
    return Citation(name, read_json(root / "results" / f"{name}.json"))
