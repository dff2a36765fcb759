"""Reading an experiment's declaration (a TOML file in experiments/) and checking it.

`load_experiment(path, profile)` returns an `Experiment`: its question, arms, seeds, budget,
metric and deciding test, every arm's full settings. It refuses, naming the file, the table
and the key: an unknown table or key, a value of the wrong type, a setting the library
refuses, fewer than three seeds, a budget in minutes, and an arm that differs from the
control in more (or fewer) than one setting. The format is in the package's docstring
(`s2s.experiments`)."""

from __future__ import annotations

import inspect
import re
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from s2s.cli import SCHEMA, ConfigError, check_table

KINDS = ("train", "decode")
BUDGETS = ("steps", "time")
TESTS = ("seeds", "paired_bootstrap", "paired_randomization")
METRICS = ("bleu", "chrf")
EXPERIMENT_PROFILES = ("cpu", "gpu")
LENGTH_PENALTIES = ("none", "average", "gnmt")
SETTINGS = ("data", "model", "train", "search")  # the tables an arm may change
MAX_SENTENCES = 1000  # hypotheses of every run go into the committed results file
NAME = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = (int, float)

TOP_KEYS: dict[str, tuple[type, ...]] = {
    "question": (str,), "chapter": (str,), "kind": (str,), "seeds": (list,),
    "control": (str,), "budget": (str,)}
OWN_TABLES: dict[str, dict[str, tuple[type, ...]]] = {
    "search": {"beam_size": (int,), "length_penalty": (str,), "alpha": _NUMBER},
    "metric": {"name": (str,), "sentences": (int,), "points": (int,)},
    "decide": {"test": (str,), "samples": (int,), "level": _NUMBER},
    "speed": {"steps": (int,)},
    "source": {"experiment": (str,), "arm": (str,)},
}
# [train] keys an experiment may not set, and why.
REFUSED_TRAIN = {
    "max_minutes": "budgets count steps (set max_steps; budget = \"time\" turns a measured "
                   "speed ratio into steps)",
    "max_epochs": "the step budget is the budget: the runner sets max_epochs out of the way",
    "patience": "every run trains its whole budget (the best validation weights are kept)",
    "seed": "the seeds are the top-level `seeds` list",
    "lr_decay": "the runner stops training at each point of the metric's curve, and fit "
                "would read each stop as the end of the budget",
}
SEARCH_DEFAULTS = {"beam_size": 1, "length_penalty": "none", "alpha": 0.6}


class ExperimentError(ConfigError):
    """A declaration that cannot be used; the message names the file, the table and the key."""


@dataclass(frozen=True)
class Arm:
    """One arm: its full settings ({table: {key: value}} for data, model, train, search) and
    what it changes from the control ({"table.key": (control's value, this arm's)}; empty for
    the control; a kind change lists the settings that come with it too)."""

    name: str
    settings: dict[str, dict]
    change: dict[str, tuple[object, object]]


@dataclass(frozen=True)
class Experiment:
    """A checked declaration, with the settings of one profile (cpu or gpu)."""

    name: str
    path: Path
    profile: str
    question: str
    chapter: str
    kind: str  # "train": arms train models; "decode": arms decode the source's models
    seeds: tuple[int, ...]
    control: str
    arms: dict[str, Arm]  # the control first
    budget: str  # "steps", or "time": arms' steps from a measured speed ratio
    speed_steps: int  # steps timed per arm for a "time" budget
    metric: str  # "bleu" or "chrf", on the valid split
    sentences: int  # the first N distinct valid sources
    points: int  # points of the metric's curve (a multiple of 4: the last quarter's gain)
    test: str  # the deciding test, one of TESTS
    samples: int
    level: float
    source: tuple[str, str] | None  # decode: (experiment, arm) whose models are decoded

    @property
    def results_name(self) -> str:
        """The results file's stem: NAME (cpu) or NAME-gpu."""
        return self.name if self.profile == "cpu" else f"{self.name}-{self.profile}"


def _defaults() -> dict[str, dict[str, object]]:
    """Each setting's value when a declaration leaves it out (the library's defaults)."""
    from s2s.data import load_translation
    from s2s.models import ModelConfig
    from s2s.models.base import ADDED_FIELDS
    from s2s.train import TrainConfig

    data = {k: p.default for k, p in inspect.signature(load_translation).parameters.items()
            if p.default is not inspect.Parameter.empty}
    model = {f.name: f.default for f in fields(ModelConfig) if f.default is not MISSING
             and f.name not in ADDED_FIELDS}  # left out at their old value: keys stay valid
    train = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    return {"data": data, "model": model, "train": train, "search": dict(SEARCH_DEFAULTS)}


def _train_schema() -> dict[str, tuple[type, ...]]:
    from s2s.train import TrainConfig

    kinds = {"int": (int,), "float": _NUMBER, "bool": (bool,), "str": (str,)}
    return {f.name: kinds[str(f.type).split("|")[0].strip()] for f in fields(TrainConfig)}


def _schema() -> dict[str, dict[str, tuple[type, ...]]]:
    return {"data": SCHEMA["data"], "model": SCHEMA["model"], "train": _train_schema(),
            **OWN_TABLES}


def _type_name(types: tuple[type, ...]) -> str:
    return "number" if float in types else " or ".join(t.__name__ for t in types)


def _check_table(where: str, table: str, values: object,
                 schema: dict[str, dict[str, tuple[type, ...]]]) -> dict:
    try:
        check_table(where, table, values, schema)  # the command line's checks of a table
    except ExperimentError:
        raise
    except ConfigError as err:
        raise ExperimentError(str(err)) from err
    refused = [key for key in values if table == "train" and key in REFUSED_TRAIN]
    if refused:
        raise ExperimentError(f"{where}: [train] {refused[0]} cannot be set in an experiment: "
                              f"{REFUSED_TRAIN[refused[0]]}")
    return dict(values)


def _tables(where: str, raw: dict, allowed: tuple[str, ...], schema: dict) -> dict[str, dict]:
    """The settings tables of `raw` (a declaration, an arm, or [gpu]), checked."""
    out = {}
    for table, values in raw.items():
        if table not in allowed:
            raise ExperimentError(f"{where}: unknown table [{table}]: here the tables are "
                                  f"{', '.join(f'[{t}]' for t in allowed)}")
        out[table] = _check_table(where, table, values, schema)
    return out


def _seeds(where: str, seeds: object) -> tuple[int, ...]:
    if (not isinstance(seeds, list) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ExperimentError(f"{where}: seeds = {seeds!r} must be a list of integers >= 0")
    if len(set(seeds)) != len(seeds) or len(seeds) < 3:
        raise ExperimentError(f"{where}: seeds = {seeds!r}: give at least 3 distinct seeds (a "
                              "difference smaller than the seed-to-seed spread is no "
                              "difference)")
    return tuple(seeds)


def _choice(where: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ExperimentError(f"{where}: {name} = {value!r}: choose one of "
                              f"{', '.join(map(repr, choices))}")
    return value  # type: ignore[return-value]


def _model_accepts(model: dict, key: str, value: object) -> bool:
    """Whether a model with settings `model` may take `value` for `key` (a kind refuses the
    fields it would ignore, e.g. `attention` for an "rnn")."""
    from s2s.models import ModelConfig

    try:
        ModelConfig(**{"src_vocab_size": 8, "tgt_vocab_size": 8, **model, key: value})
    except (TypeError, ValueError):
        return False
    return True


SUBWORD_DATA_KEYS = ("vocab_size", "subword_model", "joint_vocab")  # only with an "spm" side


def _inapplicable(table: str, key: str, mine: dict, other: dict, default: object) -> bool:
    """Whether `table.key` does not apply on the side with settings `mine` (a field of another
    model kind, a length penalty of greedy decoding...), given the other side's `other`."""
    if table == "model" and key != "kind" and mine["model"].get("kind") != other["model"].get(
            "kind"):
        return not _model_accepts(mine["model"], key, other["model"].get(key, default))
    if table == "data" and key in SUBWORD_DATA_KEYS:
        from s2s.subwords import SUBWORD_KINDS

        return not any(t in SUBWORD_KINDS for t in mine["data"].get("tokenizers") or ())
    if table == "data" and key == "max_len_counts":  # only a side that is not word-level
        from s2s.data import DEFAULT_TOKENIZERS  # is measured otherwise
        from s2s.subwords import SUBWORD_KINDS

        words = DEFAULT_TOKENIZERS.get(mine["data"].get("dataset", "fra-eng"), ("word", "word"))
        kinds = mine["data"].get("tokenizers") or words
        return all(k == w or k in SUBWORD_KINDS for k, w in zip(kinds, words, strict=True))
    if table == "search" and key in ("length_penalty", "alpha"):
        search = {**SEARCH_DEFAULTS, **mine["search"]}
        return search["beam_size"] == 1 or (key == "alpha" and search["length_penalty"] != "gnmt")
    return False


def arm_changes(control: dict[str, dict], arm: dict[str, dict],
                defaults: dict[str, dict]) -> tuple[dict, list[str]]:
    """How `arm` differs from `control` (both {table: {key: value}}): every differing setting
    {"table.key": (control's, arm's)}, and those that count as separate changes (a setting
    that comes with a change of model kind, or of greedy to beam search, does not count)."""
    from s2s.models.base import ADDED_FIELDS

    changes, counted = {}, []
    for table in SETTINGS:
        for key in sorted(set(control.get(table, {})) | set(arm.get(table, {}))):
            # a model field added later is left out of `defaults` (keys stay valid), not unset
            default = defaults[table].get(key, ADDED_FIELDS.get(key) if table == "model"
                                          else None)
            a, b = control[table].get(key, default), arm[table].get(key, default)
            if a == b:
                continue
            changes[f"{table}.{key}"] = (a, b)
            if not (_inapplicable(table, key, control, arm, default)
                    or _inapplicable(table, key, arm, control, default)):
                counted.append(f"{table}.{key}")
    return changes, counted


def _check_settings(where: str, settings: dict[str, dict], kind: str) -> None:
    """Build what the settings describe, so the library's own checks run now."""
    from s2s.decoding import check_search
    from s2s.models import ModelConfig
    from s2s.subwords import TOKENIZER_KINDS
    from s2s.train import TrainConfig

    search = {**SEARCH_DEFAULTS, **settings["search"]}
    try:
        _choice(where, "[search] length_penalty", search["length_penalty"], LENGTH_PENALTIES)
        greedy = search["beam_size"] == 1
        check_search(None if greedy else search["beam_size"], 1,
                     None if greedy or search["length_penalty"] == "none"
                     else search["length_penalty"], search["alpha"], beam_none_ok=True)
    except (TypeError, ValueError) as err:
        raise ExperimentError(f"{where}: [search]: {err}") from err
    if kind == "decode":
        return
    data, train = settings["data"], settings["train"]
    if "max_len_counts" in data:
        from s2s.data import MAX_LEN_COUNTS

        _choice(where, "[data] max_len_counts", data["max_len_counts"], MAX_LEN_COUNTS)
    tokenizers = data.get("tokenizers")
    if tokenizers is not None and (len(tokenizers) != 2 or any(t not in TOKENIZER_KINDS
                                                               for t in tokenizers)):
        raise ExperimentError(f"{where}: [data] tokenizers = {tokenizers!r} must list two of "
                              f"{', '.join(TOKENIZER_KINDS)}: the source's and the target's")
    for table, key in (("data", "max_len"), ("train", "max_steps"), ("train", "eval_every"),
                       ("model", "kind")):
        if key not in settings[table]:
            raise ExperimentError(f"{where}: [{table}] {key} is missing: an experiment states "
                                  "its data's length limit, its budget in steps, how often "
                                  "it validates, and its model kind")
    try:
        ModelConfig(src_vocab_size=8, tgt_vocab_size=8,
                    **{"max_len": data["max_len"], **settings["model"]})
    except (TypeError, ValueError) as err:
        raise ExperimentError(f"{where}: [model]: {err}") from err
    try:
        TrainConfig(**train)
    except (TypeError, ValueError) as err:
        raise ExperimentError(f"{where}: [train]: {err}") from err
    if train["eval_every"] > train["max_steps"]:
        raise ExperimentError(f"{where}: [train] eval_every = {train['eval_every']} is more "
                              f"than max_steps = {train['max_steps']}: the learning curve "
                              "needs several validations")


def _merge(base: dict[str, dict], over: dict[str, dict]) -> dict[str, dict]:
    return {t: {**base.get(t, {}), **over.get(t, {})} for t in {*base, *over}}


def _read(path: Path) -> dict:
    """The TOML at `path`, its top-level keys checked."""
    where = str(path)
    if not path.is_file():
        raise ExperimentError(f"no declaration at {path}: experiments are TOML files in the "
                              "repository's experiments/ folder (python -m s2s.experiments list)")
    if not NAME.fullmatch(path.stem):
        raise ExperimentError(f"{where}: the file name {path.stem!r} must be lower-case letters, "
                              "digits and _ (it names the results file)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(f"{where}: not valid TOML: {err}") from err
    for key, value in raw.items():
        if isinstance(value, dict):
            continue
        if key not in TOP_KEYS:
            raise ExperimentError(f"{where}: unknown key {key}: the top-level keys are "
                                  f"{', '.join(TOP_KEYS)}")
        if not isinstance(value, TOP_KEYS[key]):
            raise ExperimentError(f"{where}: {key} = {value!r} must be a "
                                  f"{_type_name(TOP_KEYS[key])}")
    for key in ("question", "control"):
        if not raw.get(key, "").strip():
            raise ExperimentError(f"{where}: {key} is missing: an experiment states its "
                                  "question and names its control arm")
    return raw


def _arms(where: str, raw: dict, base: dict[str, dict], kind: str,
          schema: dict) -> dict[str, Arm]:
    """Every arm's full settings, each checked; the one-change rule enforced."""
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, dict) or len(arms_raw) < 2:
        raise ExperimentError(f"{where}: declare at least two arms, [arms.NAME] tables (the "
                              "control and one other)")
    control = raw["control"]
    if control not in arms_raw:
        raise ExperimentError(f"{where}: control = {control!r} names no arm: the arms are "
                              f"{', '.join(arms_raw)}")
    settings = {}
    for name, values in arms_raw.items():
        if not NAME.fullmatch(name):
            raise ExperimentError(f"{where}: arm name {name!r} must be lower-case letters, "
                                  "digits and _")
        if not isinstance(values, dict):
            raise ExperimentError(f"{where}: arms.{name} must be a table")
        own = _tables(f"{where} [arms.{name}]", values,
                      ("search",) if kind == "decode" else SETTINGS, schema)
        settings[name] = _merge(base, own)
        _check_settings(f"{where} [arms.{name}]", settings[name], kind)
    defaults = _defaults()
    arms = {control: Arm(control, settings[control], {})}
    for name in arms_raw:
        if name == control:
            continue
        changes, counted = arm_changes(settings[control], settings[name], defaults)
        if len(counted) != 1:
            listed = "; ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in counted)
            raise ExperimentError(
                f"{where}: [arms.{name}] differs from the control {control!r} in "
                f"{len(counted)} settings{': ' + listed if listed else ''}. Each arm changes "
                "exactly one setting (a change of model kind brings the settings only one of "
                "the kinds takes)")
        arms[name] = Arm(name, settings[name], changes)
    return arms


def _options(where: str, tables: dict, kind: str) -> dict:
    """The metric, deciding test and speed measurement, with their defaults, checked."""
    metric, decide = tables.get("metric", {}), tables.get("decide", {})
    test = _choice(where, "[decide] test",
                   decide.get("test", "paired_bootstrap" if kind == "decode" else "seeds"), TESTS)
    out = {"metric": _choice(where, "[metric] name", metric.get("name", "bleu"), METRICS),
           "sentences": metric.get("sentences", 500), "points": metric.get("points", 4),
           "test": test, "level": float(decide.get("level", 0.05)),
           "samples": decide.get("samples", 10_000 if test == "paired_randomization" else 1000),
           "speed_steps": tables.get("speed", {}).get("steps", 40)}
    for ok, what in ((1 <= out["sentences"] <= MAX_SENTENCES,
                      f"[metric] sentences = {out['sentences']} must be in 1..{MAX_SENTENCES} "
                      "(every run's hypotheses go into the results file)"),
                     (out["points"] >= 4 and out["points"] % 4 == 0,
                      f"[metric] points = {out['points']} must be a multiple of 4 (the rule "
                      "'past noise' compares the last quarter of the curve)"),
                     (out["samples"] >= 100,
                      f"[decide] samples = {out['samples']} must be at least 100"),
                     (0 < out["level"] < 1, f"[decide] level = {out['level']} must be in (0, 1)"),
                     (out["speed_steps"] >= 10,
                      f"[speed] steps = {out['speed_steps']} must be at least 10")):
        if not ok:
            raise ExperimentError(f"{where}: {what}")
    return out


def _source(where: str, path: Path, tables: dict, profile: str) -> tuple[str, str]:
    src = tables.get("source", {})
    if set(src) != {"experiment", "arm"}:
        raise ExperimentError(f"{where}: [source] needs experiment and arm: the trained "
                              "models this experiment decodes")
    parent = load_experiment(path.parent / f"{src['experiment']}.toml", profile)
    if parent.kind != "train" or src["arm"] not in parent.arms:
        raise ExperimentError(f"{where}: [source] arm = {src['arm']!r} is not an arm of the "
                              f"training experiment {src['experiment']!r} (its arms: "
                              f"{', '.join(parent.arms)})")
    return src["experiment"], src["arm"]


def load_experiment(path: str | Path, profile: str = "cpu") -> Experiment:
    """The declaration at `path` (experiments/NAME.toml), checked, with `profile`'s settings:
    the file's own for "cpu", its [gpu] table's changes on top for "gpu"."""
    path = Path(path)
    where = str(path)
    _choice(where, "profile", profile, EXPERIMENT_PROFILES)
    raw = _read(path)
    schema = _schema()
    kind = _choice(where, "kind", raw.get("kind", "train"), KINDS)
    budget = _choice(where, "budget", raw.get("budget", "steps"), BUDGETS)
    here = (*(("search",) if kind == "decode" else SETTINGS), "metric", "decide",
            *(("speed",) if budget == "time" else ()), *(("source",) if kind == "decode" else ()))
    tables = _tables(where, {k: v for k, v in raw.items()
                             if isinstance(v, dict) and k not in ("arms", "gpu")},
                     (*here, "arms", "gpu"), schema)
    seeds = _seeds(where, raw.get("seeds"))
    gpu = raw.get("gpu", {})
    if not isinstance(gpu, dict):
        raise ExperimentError(f"{where}: gpu must be a table ([gpu.train] ...)")
    gpu_tables = _tables(f"{where} [gpu]", {k: v for k, v in gpu.items() if k != "seeds"},
                         here, schema)
    if profile == "gpu":
        tables = _merge(tables, gpu_tables)
        seeds = _seeds(f"{where} [gpu]", gpu["seeds"]) if "seeds" in gpu else seeds
    arms = _arms(where, raw, {t: tables.get(t, {}) for t in SETTINGS}, kind, schema)
    options = _options(where, tables, kind)
    source = _source(where, path, tables, profile) if kind == "decode" else None
    return Experiment(path.stem, path, profile, raw["question"].strip(), raw.get("chapter", ""),
                      kind, seeds, raw["control"], arms, budget, source=source, **options)


def find_experiments(folder: str | Path) -> list[Path]:
    """The declarations in `folder`, by name."""
    return sorted(Path(folder).glob("*.toml"))


def find_root(start: Path | None = None) -> Path:
    """The first of the current directory and its parents with an experiments/ folder; else
    the repository this package was installed from (`make setup` installs it editable), so a
    notebook copied elsewhere (nbgrader's course folders) still finds the committed results."""
    start = (start or Path.cwd()).resolve()
    checkout = Path(__file__).resolve().parents[3]  # utils/s2s/experiments/ -> the repository
    for folder in (start, *start.parents, checkout):
        if (folder / "experiments").is_dir():
            return folder
    raise ExperimentError(f"no experiments/ folder in {start} or above it, nor in {checkout}: "
                          "run from the course repository, or pass --root")
