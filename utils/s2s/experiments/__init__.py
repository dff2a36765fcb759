"""Experiments: the comparisons the chapters report, declared, run resumably, and decided
with a significance test.

    python -m s2s.experiments list
    python -m s2s.experiments run NAME [--profile cpu|gpu] [--seeds 0 1 2] [--device cuda]
                                       [--threads N]
    python -m s2s.experiments report NAME [--profile cpu|gpu]

`list` shows each declaration in experiments/ (its question, arms, seeds, budget and whether
its results file is there). `run` trains (or decodes) every arm x seed and writes
results/NAME.json (results/NAME-gpu.json with --profile gpu) once all declared runs are done;
--seeds runs some seeds only (several processes can share an experiment: a lock per run);
on a CPU each process uses one torch thread unless --threads says otherwise. An
interrupted `run` continues where it stopped: each run's checkpoints and finished records are
kept in cache/experiments/NAME/ (ignored by git), named by a hash of the run's settings, so
a changed declaration reruns only what it changed. `report` prints, per arm, the mean, the
standard deviation and a bootstrap 95 % interval over seeds, the last-quarter gain of every
run's learning curve (flagging arms still improving by 10 % or more: not past noise), and the
deciding test against the control. The folders are found from the current directory upwards
(the first with an experiments/ folder), or given with --root.

A declaration, experiments/NAME.toml (NAME: lower-case letters, digits and _):

    question = "Does masking <pad> out of the loss change valid BLEU?"
    chapter = "03_rnn_seq2seq"      # the chapter that cites the result
    kind = "train"                  # "train": arms train models; "decode": arms decode the
                                    #   models of another experiment's arm ([source])
    seeds = [0, 1, 2]               # at least 3
    control = "masked"              # the arm the others are compared with
    budget = "steps"                # or "time": each non-control arm trains the steps it does
                                    #   in the control's time, from a timed run ([speed] steps)
    [data]    the arguments of s2s.data.load_translation (max_len is required)
    [model]   s2s.models.ModelConfig's fields (kind is required)
    [train]   s2s.train.TrainConfig's fields; max_steps (the budget) and eval_every are
              required; max_minutes, max_epochs, patience, seed and lr_decay are refused
    [search]  how the metric decodes: beam_size (1 = greedy, the default), length_penalty
              ("none", "average", "gnmt"), alpha
    [metric]  name ("bleu" or "chrf", on the valid split), sentences (the first N distinct
              valid sources, at most 1000; default 500), points (of the metric's learning
              curve, a multiple of 4; default 4: at 1/4, 1/2, 3/4 and all of the budget)
    [decide]  test: "seeds" (arms trained from different seeds: difference of the means, its
              bootstrap interval and a permutation test), "paired_bootstrap" or
              "paired_randomization" (sacrebleu's paired tests, per seed, on the same
              sentences); samples; level (default 0.05)
    [source]  (decode) experiment, arm: whose trained models to decode
    [arms.NAME]  the arm's settings, e.g. `train.mask_loss = false`; every arm but the control
              differs from the control in exactly ONE setting (a change of model kind brings
              the settings only one kind takes, e.g. `attention`; greedy search ignores the
              length penalty); a decode experiment's arms change [search] only
    [gpu]     changes for --profile gpu: seeds, and tables as above ([gpu.train] ...)

The results file holds the declaration's question, arms and settings, the command, the
provenance (git commit, CACHE_VERSION, torch and sacrebleu versions, device, precision, date),
the speed measurement of an equal-time budget, the valid sentences and their references once,
and per run: arm, seed, settings, steps, seconds, the validation loss at every validation,
BLEU/chrF/length ratio at each point of the curve, the final scores and the hypotheses (what a
paired test needs). `s2s.experiments.results.check_results` says what is wrong with one
(tests/test_experiments.py runs it on every results file a chapter cites).

Modules: `declaration` (reading and checking), `runs` (one run: train or decode, resume),
`speed` (equal time), `runner` (a whole experiment), `results` (the file and its checks),
`report` (summaries and the deciding test)."""
