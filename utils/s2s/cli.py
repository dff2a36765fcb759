"""The command line: the same code the chapters use, driven by a TOML config.

    python -m s2s train CONFIG [--resume]
    python -m s2s translate CHECKPOINT [--beam 5] [--length-penalty gnmt] < sources > outputs
    python -m s2s evaluate CHECKPOINT --config CONFIG [--split valid|test]
    python -m s2s evaluate CHECKPOINT --source FILE --reference FILE [--reference FILE ...]

A config has four tables; every key is optional except `[model] kind`, and an unknown table or
key, or a value of the wrong type, is an error that names it:

    [data]    dataset, max_len, max_pairs, min_freq, valid_frac, test_frac, seed, tokenizers,
              and for "spm" (sentencepiece) sides vocab_size, subword_model, joint_vocab;
              max_len_counts ("words": "char" sides keep the word level's pairs)
              (the arguments of `s2s.data.load_translation`)
    [model]   kind, embed_size, hidden_size, num_layers, dropout, cell, bidirectional,
              attention, input_feeding, embed_dropout, and the Transformer's num_heads,
              ff_size, norm_first, positions (`s2s.models.ModelConfig`; the vocabulary sizes,
              max_len and tokenizers come from the data)
    [train]   the fields of `s2s.train.TrainConfig` (max_steps, max_minutes, lr, precision, ...)
    [output]  checkpoint (a path; relative paths are relative to the config file's folder)

`train` writes the checkpoint as `fit` does (best weights, and everything an exact resume
needs); `--resume` continues it with the config's budget. `translate` reads one sentence per
line and writes one translation per line (an empty line stays empty, so lines stay aligned).
`evaluate` prints sacrebleu's BLEU and chrF, on a split of the config's data or on files (one
sentence per line; several `--reference` files give several references per sentence).

Exit status:
  0    done
  1    the run failed: the corpus is missing or unverified (S2S_DATA_DIR, the download), a
       checkpoint is damaged or not a checkpoint, a file cannot be read or written, the device
       is absent, training diverged, memory ran out
  2    bad usage: an unknown option, a config, checkpoint or input file that is not there (or
       is a folder, empty, or not UTF-8 text), a config with an unknown table or key, a value
       of the wrong type, an option that would be ignored, a setting the library refuses
  3    an unexpected error, most likely a bug: rerun with --verbose and report the traceback
  130  interrupted (Ctrl-C); a training run keeps its last checkpoint, --resume continues it
An error prints one line on stderr, `s2s COMMAND: error: MESSAGE`, naming the file, argument
or setting at fault and what to do; --verbose adds the full traceback above it.
A library error (status 1) is an OSError, a MemoryError or torch's OutOfMemoryError (the
machine's or the files' state, wherever it was raised), or a ValueError, TypeError,
RuntimeError or FloatingPointError that the s2s package raised itself (CheckpointError,
DataError, a refused device, ...); any other exception, or one of those raised inside another
library (torch, ...), is unexpected (3)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tomllib
import traceback
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

# Each table's keys and the TOML types they take (TOML has no null: leave a key out instead).
_NUMBER = (int, float)
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "data": {"dataset": (str,), "max_len": (int,), "max_pairs": (int,), "min_freq": (int,),
             "valid_frac": _NUMBER, "test_frac": _NUMBER, "seed": (int,), "tokenizers": (list,),
             "vocab_size": (int,), "subword_model": (str,), "joint_vocab": (bool,),
             "max_len_counts": (str,)},
    "model": {"kind": (str,), "embed_size": (int,), "hidden_size": (int,), "num_layers": (int,),
              "dropout": _NUMBER, "cell": (str,), "bidirectional": (bool,), "attention": (str,),
              "input_feeding": (bool,), "embed_dropout": (bool,), "num_heads": (int,),
              "ff_size": (int,), "norm_first": (bool,), "positions": (str,)},
    "train": {},  # filled below from TrainConfig's fields
    "output": {"checkpoint": (str,)},
}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the table and the key."""


def _train_schema() -> dict[str, tuple[type, ...]]:
    from s2s.train import TrainConfig

    kinds = {"int": (int,), "float": _NUMBER, "bool": (bool,), "str": (str,)}
    schema = {}
    for f in fields(TrainConfig):
        base = str(f.type).split("|")[0].strip()  # "int | None" -> "int"
        schema[f.name] = kinds[base]
    return schema


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join("number" if t is float else t.__name__ for t in types
                       if not (float in types and t is int))


def check_table(where: str, table: str, values: object,
                schema: dict[str, dict[str, tuple[type, ...]]]) -> None:
    """Refuse a TOML table (`values`, read from `where`) that is not a table, has a key
    `schema[table]` does not list, or a value of another type; the error names `where`, the
    table and the key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {table} must be a table ([{table}] followed by keys)")
    for key, value in values.items():
        if key not in schema[table]:
            raise ConfigError(f"{where}: unknown key [{table}] {key}: the keys of "
                              f"[{table}] are {', '.join(schema[table])}")
        types = schema[table][key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(f"{where}: [{table}] {key} = {value!r} is a "
                              f"{type(value).__name__}; it must be a {_type_name(types)}")


def read_config(path: str | Path) -> dict[str, dict]:
    """The config at `path`, checked against SCHEMA: {table: {key: value}}."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}: pass the path of a TOML file (see "
                          "configs/ in the repository)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}): a "
                          "config is a TOML file saved as UTF-8") from err
    schema = {**SCHEMA, "train": _train_schema()}
    config: dict[str, dict] = {table: {} for table in schema}
    for table, values in raw.items():
        if table not in schema:
            raise ConfigError(f"{path}: unknown table [{table}]: the tables are "
                              f"{', '.join(f'[{t}]' for t in schema)}")
        check_table(str(path), table, values, schema)
        config[table].update(values)
    if "kind" not in config["model"]:
        raise ConfigError(f"{path}: [model] kind is missing: say which model to train "
                          "(rnn, bahdanau, luong, nmt or transformer)")
    tokenizers = config["data"].get("tokenizers")
    if tokenizers is not None and (len(tokenizers) != 2
                                   or not all(isinstance(t, str) for t in tokenizers)):
        raise ConfigError(f"{path}: [data] tokenizers = {tokenizers!r} must list two names, "
                          'the source\'s and the target\'s, e.g. ["word", "word"]')
    return config


def checkpoint_path(config: dict[str, dict], config_path: Path) -> Path:
    """[output] checkpoint, relative to the config's folder (default: <config stem>.pt)."""
    name = config["output"].get("checkpoint", f"{config_path.stem}.pt")
    path = Path(name)
    return path if path.is_absolute() else config_path.parent / path


def load_data(config: dict[str, dict], config_path: Path, verbose: bool = True):
    """The `TranslationData` of a config's [data] table (a bad value: ConfigError naming the
    file and the table)."""
    from s2s.data import load_translation

    data_args = dict(config["data"])
    if "tokenizers" in data_args:
        data_args["tokenizers"] = tuple(data_args["tokenizers"])
    try:
        return load_translation(**data_args, verbose=verbose)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{config_path}: [data]: {err}") from err


def _build(table: str, config_path: Path, make):
    try:
        return make()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{config_path}: [{table}]: {err}") from err


def train(config_path: str | Path, resume: bool = False, device: str | None = None) -> Path:
    """Train the model a config describes; returns the checkpoint's path.

    Started by `torchrun --nproc_per_node N -m s2s train CONFIG`, each of the N processes
    joins the process group (`s2s.distributed.join`: NCCL on GPUs, gloo on CPUs) and trains
    on its shard of every batch of [train] batch_size pairs; rank 0 writes the checkpoint."""
    import s2s
    from s2s import distributed
    from s2s.train import TrainConfig

    config_path = Path(config_path)
    config = read_config(config_path)
    cfg = _build("train", config_path, lambda: TrainConfig(**config["train"]))
    several = distributed.launched_by_torchrun()
    if several:
        device = distributed.join(device)
    elif device is not None:
        device = _checked_device(device)
    try:
        checkpoint = _train(config, config_path, cfg, resume, device or s2s.get_device())
    except BaseException:
        if several:
            distributed.teardown(failed=True)  # exit now: torchrun then stops the others
        raise
    if several:
        distributed.teardown()
    return checkpoint


def _checked_device(name: str):
    """--device as a torch.device, checked before the data loads: a name that is no device is a
    usage error (2); a device this machine lacks stays the library's RuntimeError (1)."""
    from s2s.runtime import check_device

    try:
        return check_device(name, "--device")
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _train(config: dict[str, dict], config_path: Path, cfg, resume: bool, device) -> Path:
    import s2s
    from s2s.distributed import world
    from s2s.models import build_model
    from s2s.train import fit

    main = world().main
    checkpoint = checkpoint_path(config, config_path)  # checked before the data is loaded
    if checkpoint.is_dir():
        raise ConfigError(f"{config_path}: [output] checkpoint is {checkpoint}, a folder: "
                          "name the file to write, e.g. checkpoint = \"run.pt\"")
    if resume and not checkpoint.exists():
        raise ConfigError(f"--resume: there is no checkpoint at {checkpoint} to continue; "
                          "train without --resume first")
    data = load_data(config, config_path, verbose=main)
    model_config = config_model(config, config_path, data)
    s2s.seed_everything(cfg.seed)
    model = build_model(model_config, data.src_vocab, data.tgt_vocab)
    if world().size > 1:  # DDP starts every rank from rank 0's weights; dropout differs
        s2s.seed_everything(cfg.seed + world().rank)
    history = fit(model, data, cfg, device=device, checkpoint=checkpoint, resume=resume)
    if main:
        processes = f" on {world().size} processes" if world().size > 1 else ""
        print(f"{history.steps} steps{processes} ({history.precision}), best validation loss "
              f"{history.best_val:.3f}, stopped: {history.stopped}; checkpoint {checkpoint}")
    return checkpoint


def config_model(config: dict[str, dict], config_path: Path, data):
    """The `ModelConfig` of a config's [model] table for `data` (its vocabularies' sizes, its
    tokenizers, the longest sequence its [data] max_len allows); a bad value: ConfigError."""
    from s2s.models import ModelConfig

    return _build("model", config_path, lambda: ModelConfig(
        src_vocab_size=len(data.src_vocab), tgt_vocab_size=len(data.tgt_vocab),
        max_len=data.model_max_len(config["data"].get("max_len")),
        tokenizers=tuple(data.tokenizers), **config["model"]))


def _read_lines(path: str | Path, what: str) -> list[str]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder: pass a text file, one sentence per line")
    if not path.is_file():
        raise ConfigError(f"{what}: no file at {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ConfigError(_not_utf8(f"{what} {path}", err)) from err


def _not_utf8(what: str, err: UnicodeDecodeError) -> str:
    return (f"{what} is not UTF-8 text ({err.reason} at byte {err.start}): convert it first, "
            "e.g. iconv -f latin1 -t utf-8")


def translate_lines(model, lines: Sequence[str], **search) -> list[str]:
    """Translate each line; an empty (or blank) line gives an empty line."""
    from s2s.decoding import translate

    real = [i for i, line in enumerate(lines) if line.strip()]
    outputs = translate(model, [lines[i] for i in real], **search) if real else []
    result = [""] * len(lines)
    for i, out in zip(real, outputs, strict=True):
        result[i] = out
    return result


def evaluate(checkpoint: str | Path, *, config: str | Path | None = None,
             split: str | None = None,
             max_sentences: int | None = None, source: str | Path | None = None,
             references: Sequence[str | Path] = (), **search) -> tuple[object, object]:
    """sacrebleu BLEU and chrF of the checkpoint's model: on `split` of the config's data, or
    on a source file against one or more reference files (`split` and `max_sentences` only
    apply to a config's data; `split` defaults to "test"). Returns (Bleu, ChrF)."""
    from s2s.checkpoints import load_checkpoint
    from s2s.metrics import bleu_tokenizer, corpus_bleu, corpus_chrf, judge
    from s2s.subwords import scoring_kind

    model = load_checkpoint(checkpoint)
    if config is not None:
        if source is not None or references:
            raise ConfigError("evaluate: give --config (a split of its data) or --source with "
                              "--reference files, not both")
        config = Path(config)
        data = load_data(read_config(config), config, verbose=False)
        judged = judge(model, data, split=split or "test", max_sentences=max_sentences,
                       **search)
        return judged.bleu, judged.chrf()
    if source is None or not references:
        raise ConfigError("evaluate: give --config CONFIG (and --split), or --source FILE with "
                          "at least one --reference FILE")
    ignored = [name for name, value in (("--split", split), ("--max-sentences", max_sentences))
               if value is not None]
    if ignored:
        raise ConfigError(f"evaluate: {ignored[0]} picks sentences of a config's data; with "
                          "--source, every line of the file is scored: drop it, or evaluate "
                          "with --config")
    sources = _read_lines(source, "--source")
    if not sources:
        raise ConfigError(f"--source {source} is empty: give one sentence per line")
    refs = [_read_lines(r, "--reference") for r in references]
    for path, lines in zip(references, refs, strict=True):
        if len(lines) != len(sources):
            raise ConfigError(f"--reference {path} has {len(lines)} lines, --source "
                              f"{source} has {len(sources)}: one reference per source line")
    if any(not line.strip() for line in sources):
        raise ConfigError(f"--source {source} has an empty line: every line must be a "
                          "sentence to translate")
    hypotheses = translate_lines(model, sources, **search)
    per_sentence = [list(group) for group in zip(*refs, strict=True)]
    tokenize = bleu_tokenizer(scoring_kind(model.config.tokenizers[1], model.tgt_vocab))  # zh
    return (corpus_bleu(hypotheses, per_sentence, tokenize=tokenize),
            corpus_chrf(hypotheses, per_sentence))


EXIT_FAILED = 1  # the exit statuses the module docstring documents
EXIT_USAGE = 2  # argparse's own status for a usage error
EXIT_BUG = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
PACKAGE = Path(__file__).resolve().parent  # the s2s package: where its own errors are raised
DESCRIPTION, _, EXIT_STATUS = __doc__.partition("\nExit status:\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def nonnegative_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


GNMT_ALPHA = 0.6  # --alpha's default, as translate's


def _search_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam", type=positive_int, default=None,
                        help="beam size (default: greedy)")
    parser.add_argument("--length-penalty", choices=["average", "gnmt"], default=None)
    parser.add_argument("--alpha", type=nonnegative_number, default=None,
                        help=f"GNMT's alpha (with --length-penalty gnmt; default {GNMT_ALPHA})")


def _search(args: argparse.Namespace) -> dict:
    search: dict = {}
    if args.alpha is not None and args.length_penalty != "gnmt":
        raise ConfigError("--alpha is the exponent of --length-penalty gnmt, and would be "
                          "ignored without it: add --beam K --length-penalty gnmt, or drop "
                          "--alpha")
    if args.beam is not None:
        search.update(beam_size=args.beam, length_penalty=args.length_penalty,
                      alpha=GNMT_ALPHA if args.alpha is None else args.alpha)
    elif args.length_penalty is not None:
        raise ConfigError("--length-penalty needs --beam: greedy decoding has no penalty")
    return search


def _parser() -> argparse.ArgumentParser:
    style = dict(epilog="exit status:\n" + EXIT_STATUS,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = argparse.ArgumentParser(prog="python -m s2s", description=DESCRIPTION, **style)
    verbose_help = "on an error, print the full traceback too"
    parser.add_argument("--verbose", "-v", action="store_true", help=verbose_help)
    commands = parser.add_subparsers(dest="command", required=True)
    p_train = commands.add_parser("train", help="train the model a TOML config describes",
                                  **style)
    p_train.add_argument("config")
    p_train.add_argument("--resume", action="store_true",
                         help="continue the config's checkpoint")
    p_train.add_argument("--device", default=None, help="cpu or cuda (default: by hardware)")
    p_tr = commands.add_parser("translate", help="stdin -> stdout, one sentence per line",
                               **style)
    p_tr.add_argument("checkpoint")
    _search_args(p_tr)
    p_ev = commands.add_parser("evaluate", help="sacrebleu BLEU and chrF", **style)
    p_ev.add_argument("checkpoint")
    p_ev.add_argument("--config", default=None, help="evaluate on a split of its data")
    p_ev.add_argument("--split", choices=["train", "valid", "test"], default=None,
                      help="with --config (default: test)")
    p_ev.add_argument("--max-sentences", type=positive_int, default=None,
                      help="with --config: score the first N distinct sources")
    p_ev.add_argument("--source", default=None, help="a file of sources, one per line")
    p_ev.add_argument("--reference", action="append", default=[],
                      help="a file of references, one per source line (repeatable)")
    _search_args(p_ev)
    for sub in (p_train, p_tr, p_ev):  # after the command too; SUPPRESS: no default there,
        # which would overwrite a --verbose given before the command
        sub.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                         help=verbose_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        _run(args)
        sys.stdout.flush()  # a closed pipe (`| head`) fails here, inside the report below
    except (Exception, KeyboardInterrupt) as err:
        if isinstance(err, BrokenPipeError):
            # stdout's reader is gone: point stdout at devnull, or Python's own flush at exit
            # fails again and prints a second error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return report(err, args.command, verbose=args.verbose)
    return 0


def _run(args: argparse.Namespace) -> None:
    if args.command == "train":
        train(args.config, resume=args.resume, device=args.device)
    elif args.command == "translate":
        from s2s.checkpoints import load_checkpoint

        search = _search(args)
        model = load_checkpoint(_existing(args.checkpoint))
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as err:
            raise ConfigError(_not_utf8("stdin", err)) from err
        for line in translate_lines(model, text.splitlines(), **search):
            print(line)
    else:
        bleu, chrf = evaluate(_existing(args.checkpoint), config=args.config,
                              split=args.split, max_sentences=args.max_sentences,
                              source=args.source, references=args.reference,
                              **_search(args))
        print(bleu)
        print(chrf)


def exit_status(err: BaseException) -> int:
    """The exit status for an error that ended a command (see the module docstring)."""
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(err, ConfigError):
        return EXIT_USAGE
    torch = sys.modules.get("torch")
    out_of_memory = torch is not None and isinstance(err, torch.OutOfMemoryError)
    if isinstance(err, OSError | MemoryError) or out_of_memory:
        return EXIT_FAILED
    deliberate = (isinstance(err, ValueError | TypeError | RuntimeError | FloatingPointError)
                  and not isinstance(err, NotImplementedError))
    return EXIT_FAILED if deliberate and _raised_in_s2s(err) else EXIT_BUG


def _raised_in_s2s(err: BaseException) -> bool:
    """Whether the innermost frame of err's traceback is the s2s package's own code."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename  # "<string>" for code made at run time
    return os.path.isabs(filename) and Path(filename).resolve().is_relative_to(PACKAGE)


def report(err: BaseException, command: str, *, verbose: bool = False) -> int:
    """Print the error as one line on stderr (after its traceback when verbose); returns its
    exit status."""
    status = exit_status(err)
    if verbose:
        traceback.print_exception(err)
    message = " ".join(str(err).split()) or type(err).__name__  # the line stays one line
    if status == EXIT_INTERRUPTED:
        resume = "; --resume continues from its last checkpoint" if command == "train" else ""
        line = f"interrupted{resume}"
    elif status == EXIT_BUG:
        where = ("the traceback above" if verbose else
                 "the traceback (rerun with --verbose to print it)")
        line = (f"internal error: {type(err).__name__}: {message}. This is unexpected, most "
                f"likely a bug: please report it with {where}")
    else:
        line = f"error: {message}"
    print(f"s2s {command}: {line}", file=sys.stderr)
    return status


def _existing(checkpoint: str) -> str:
    path = Path(checkpoint)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt"))
        which = (f" (it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})"
                 if inside else "")
        raise ConfigError(f"the checkpoint {checkpoint} is a folder{which}: pass the .pt file "
                          "`python -m s2s train CONFIG` wrote (its [output] checkpoint)")
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {checkpoint}: train one with `python -m s2s "
                          "train CONFIG` (its [output] checkpoint)")
    return checkpoint
