"""Autograding submissions one after another with nbgrader's own Autograde converter (as
nbgrader's formgrader runs it), in one worker process, so nbgrader is imported once per run
rather than once per notebook; and the driver that starts the worker, reads what it prints and
stops it (with the kernel it runs) when a notebook runs past its time limit, then starts another
for the submissions left. tools/assignments.py calls `copy_in` and `grade_all`.

    python tools/grading.py COURSE_DIR CELL_TIMEOUT_S CHAPTER/STUDENT ...   (the worker)

For each submission, in order, the worker prints a line `start CHAPTER/STUDENT`, writes
nbgrader's log to COURSE_DIR/logs/<chapter>/<student>.log as it goes, then prints
`done CHAPTER/STUDENT ok` (or `failed`). The settings are the course's
(tools/nbgrader_settings.py), with the cell timeout given."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from submissions import TIMESTAMP, Submission

# How long the worker may take to start, and between two notebooks.
WORKER_START_S = 300


def log_path(course: Path, chapter: str, student: str) -> Path:
    """nbgrader's log of autograding one submission."""
    return course / "logs" / chapter / f"{student}.log"


def log_errors(log: Path) -> str:
    """nbgrader's error lines in `log`, short enough for a CSV cell."""
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [line.strip() for line in text.splitlines() if "[ERROR]" in line or "Error" in line]
    found = " | ".join(lines[-3:]) or (text.strip().splitlines() or ["no output"])[-1]
    return found if len(found) <= 400 else found[:400] + "..."


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kills `proc` and every process it started (the kernel runs in a session of its own)."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    proc.kill()
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(family, timeout=10)


def copy_in(sub: Submission, course: Path) -> None:
    """The submission into nbgrader's `submitted/<student>/<chapter>/`, with its timestamp."""
    target = course / "submitted" / sub.student / sub.chapter
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(sub.path, target / f"{sub.chapter}.ipynb")
    if sub.timestamp:
        shutil.copy2(sub.timestamp, target / TIMESTAMP)


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.split())
    into.put(None)


def _key(job: str) -> tuple[str, str]:
    """(student, chapter) of a job CHAPTER/STUDENT."""
    chapter, student = job.split("/")
    return student, chapter


def _log(course: Path, job: str) -> Path:
    chapter, student = job.split("/")
    return log_path(course, chapter, student)


def _one_worker(todo: list[str], course: Path, env: dict[str, str], cell_limit: int,
                time_limit: float) -> dict[tuple[str, str], str | None]:
    """Runs one worker on `todo`; returns the outcome of each job it settled: all of them, or
    those before and including one it was stopped or died on."""
    outcomes: dict[tuple[str, str], str | None] = {}
    with open(course / "logs" / "worker.log", "a") as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(course),
                                 str(cell_limit), *todo], env=env, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    current, deadline = None, time.monotonic() + WORKER_START_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            _kill_tree(proc)
            if current is None:
                return {_key(job): "the grading process did not start (log: logs/worker.log)"
                        for job in todo if _key(job) not in outcomes}
            log = _log(course, current).relative_to(course)
            outcomes[_key(current)] = (f"ran past the time limit of {time_limit:g} s and was "
                                       f"stopped (log: {log})")
            return outcomes
        if line is None:  # the worker ended: all done, or it died
            proc.wait()
            if current is not None:
                log = _log(course, current).relative_to(course)
                outcomes[_key(current)] = f"the grading process died (log: {log})"
            elif len(outcomes) < len(todo):
                outcomes.update({_key(job): "the grading process failed (log: logs/worker.log)"
                                 for job in todo if _key(job) not in outcomes})
            return outcomes
        if line[:1] == ["start"] and len(line) == 2:
            current, deadline = line[1], time.monotonic() + time_limit
        elif line[:1] == ["done"] and len(line) == 3:
            log = _log(course, line[1])
            outcomes[_key(line[1])] = (None if line[2] == "ok" else f"nbgrader failed: "
                                       f"{log_errors(log)} (log: {log.relative_to(course)})")
            current, deadline = None, time.monotonic() + WORKER_START_S


def grade_all(subs: list[Submission], course: Path, env: dict[str, str],
              time_limit: float) -> dict[tuple[str, str], str | None]:
    """Autogrades `subs` (copied in already) in as few worker processes as it can; returns,
    for each (student, chapter), why it could not be graded, or None.

    A notebook gets `time_limit` seconds from its start; past it, the worker and its kernel
    are stopped, the notebook reported, and a new worker grades the rest. Each cell gets at
    most half the limit (nbgrader interrupts it and scores its tests 0)."""
    from nbgrader_settings import CELL_TIMEOUT_S

    cell_limit = int(min(CELL_TIMEOUT_S, max(1, time_limit // 2)))
    env = {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                           env.get("PATH", "")])}
    (course / "logs").mkdir(parents=True, exist_ok=True)
    todo = [f"{s.chapter}/{s.student}" for s in subs]
    outcomes: dict[tuple[str, str], str | None] = {}
    while todo:
        outcomes.update(_one_worker(todo, course, env, cell_limit, time_limit))
        todo = [job for job in todo if _key(job) not in outcomes]
    return outcomes


# ---------------------------------------------------------------------------------------------
# The worker


def grade(course: Path, cell_timeout: int, jobs: list[str]) -> None:
    """The worker: autogrades `jobs` (CHAPTER/STUDENT) in order."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from nbgrader_settings import configure

    # The protocol keeps this process's stdout; anything else written there (the kernels it
    # starts inherit it) goes to stderr, the worker's log.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    config = Config()
    configure(config)
    config.CourseDirectory.root = str(course)
    config.Execute.timeout = cell_timeout
    coursedir = CourseDirectory(config=config)
    for job in jobs:
        chapter, student = job.split("/")
        print(f"start {job}", file=protocol, flush=True)
        coursedir.assignment_id, coursedir.student_id = chapter, student
        app = Autograde(coursedir=coursedir, config=config)
        app.force = True
        app.create_student = True
        ok = run(app, log_path(course, chapter, student))
        print(f"done {job} {'ok' if ok else 'failed'}", file=protocol, flush=True)


def run(app, log: Path) -> bool:
    """app.start() with its log written to `log` as it goes (so a notebook stopped for its
    time limit leaves its log); False when nbgrader failed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log, mode="w")
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    app.log.setLevel(logging.INFO)
    app.log.addHandler(handler)
    try:
        app.start()
        return True
    except (Exception, SystemExit):  # nbgrader raises, or exits through CourseDirectory.fail
        handler.stream.write(traceback.format_exc())
        return False
    finally:
        app.log.removeHandler(handler)
        handler.close()


if __name__ == "__main__":
    grade(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
