# The two commands of the README:
#   make lab    open the course in JupyterLab (on chapters/, serving the repository root)
#   make test   lint, check the notebook pairs, run the unit tests, execute every chapter,
#               autograde submissions with nbgrader (make homework), simulate Colab and
#               build the package (make colab)
# and `make book` (the HTML book in build/book/html), and the instructors' (homework/README.md):
#   make release                     student versions of the chapters in release/ (and a zip)
#   make due CHAPTERS=... DUE=date   the chapters' due date
#   make autograde SUBMISSIONS=dir   grade dir/<student>/<chapter>.ipynb into a CSV
#   make scores                      the CSV again from the gradebook, after grading by hand
#   make feedback                    HTML feedback per student, without the hidden tests
# All create .venv and install the pinned package with its dev extras when missing or stale.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.s2s-installed
D2L    := d2l==1.0.3
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
AS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# The course's tooling is in tools/ (CONTRIBUTING.md). Restrict chapters, release and autograde
# to some chapters: make release CHAPTERS="01_encoder_decoder 02_data"
CHAPTERS ?=
HOMEWORK := $(PY) tools/assignments.py

.PHONY: lab test setup lint pairs unit chapters homework colab release due autograde scores feedback book gpu-check experiments chapters-and-beside unit-main unit-beside homework-beside

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# d2l is the tests' oracle; its own pins fail on Python >= 3.12, so no deps.
	$(PY) -m pip install --quiet --no-deps $(D2L)
	touch $(STAMP)

# The server's root is the repository, so that jupytext finds jupytext.toml and saving a
# chapter keeps its .py twin in step; the browser opens on chapters/.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/chapters $(AS_ROOT) $(LAB_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check utils tests tools benchmarks chapters

pairs: $(STAMP)
	$(PY) tools/check_pairs.py

# Test files run on every core (pytest-xdist, a file's tests in one process), each process with
# one torch thread: the tests' models are tiny, and on the 2-core machine the unit tests took
# 222 s in one process, 281 s in two of two threads, 157 s in two of one thread.
TEST_ENV := OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1}
UNIT_MARKS := -m "not homework and not colab and not slow"
unit: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests $(UNIT_MARKS) -n auto --dist loadfile

# make test runs these unit test files (one process, ~90 s) on the core the chapters leave free,
# after the Colab simulation, and the others on every core before the chapters.
UNIT_BESIDE := tests/test_cli.py
unit-main: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests $(UNIT_MARKS) -n auto --dist loadfile \
		$(foreach f,$(UNIT_BESIDE),--ignore=$(f))
unit-beside: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest $(UNIT_BESIDE) $(UNIT_MARKS) -p no:xdist

# make chapters PROFILE=gpu: every chapter under nbval at the gpu profile (a GPU machine).
# At the ci profile a chapter over 1.5 x its course.toml budget fails (tools/run_chapters.py).
PROFILE ?= ci
chapters: $(STAMP)
	S2S_PROFILE=$(PROFILE) $(PY) tools/run_chapters.py $(if $(CHAPTERS),--chapters $(CHAPTERS))

# Autograding needs the ci models the chapters train: make test runs it beside the chapters
# (after chapter 4 has trained chapter 5's model; a model not yet there is trained once, the
# cache's lock making the other process wait), on one process; alone, on every core.
homework: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -m homework -n auto --dist loadfile
homework-beside: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -m homework -p no:xdist

# make test's second stage: the chapters (one torch thread each at ci) on one core, and on the
# other the Colab simulation (pip and a build), the unit tests of UNIT_BESIDE and autograding,
# whose output is printed after the chapters'.
chapters-and-beside: $(STAMP)
	@mkdir -p build; { $(MAKE) --no-print-directory colab && \
	  $(MAKE) --no-print-directory unit-beside && \
	  $(MAKE) --no-print-directory homework-beside; } > build/beside.log 2>&1 & beside=$$!; \
	$(MAKE) --no-print-directory chapters; chapters=$$?; wait $$beside; beside_status=$$?; \
	echo "== make colab unit-beside homework-beside (run beside the chapters) =="; \
	cat build/beside.log; test $$chapters = 0 && test $$beside_status = 0

# The HTML book, offline: build/book/html/index.html (tests/test_book.py opens it in Chromium).
book: $(STAMP)
	$(PY) tools/book.py

# The GPU check (issue 30, benchmarks/README.md): every chapter under nbval, chapter 7's and
# chapter 4's final models judged on test, the benchmarks and torchrun, at the gpu profile unless
# PROFILE is given, in one report (results/gpu_check.json). Rehearse it here with
# make gpu-check PROFILE=ci; more options in GPU_CHECK_ARGS (python tools/gpu_check.py --help).
GPU_CHECK_ARGS ?=
gpu-check: $(STAMP)
	$(PY) tools/gpu_check.py $(if $(filter-out file,$(origin PROFILE)),--profile $(PROFILE)) \
		$(if $(CHAPTERS),--chapters $(CHAPTERS)) $(GPU_CHECK_ARGS)

# Colab simulated in a fresh venv (chapter 1 through its install cell), and the wheel and sdist.
colab: $(STAMP)
	$(PY) -m pytest tests -m colab

# The experiments the chapters cite (experiments/*.toml -> results/*.json), resumable: an
# interrupted run continues where it stopped. Decode experiments after the ones they decode.
# EXPERIMENT_JOBS processes share each experiment (a lock per run; one torch thread each on a
# CPU): 2 on the course's 2-core machine.
EXPERIMENTS ?= ch03_cell ch03_mask ch03_feed_back ch06_depth ch04_attention ch07_ablations \
               ch07_collapse ch05_beam ch06_beam ch08_subwords ch09_design ch09_recipe ch09_transformer
EXPERIMENT_PROFILE ?= cpu
EXPERIMENT_JOBS ?= 2
experiments: $(STAMP)
	for name in $(EXPERIMENTS); do \
	  pids=""; for job in $$(seq $(EXPERIMENT_JOBS)); do \
	    $(PY) -m s2s.experiments run $$name --profile $(EXPERIMENT_PROFILE) & pids="$$pids $$!"; \
	  done; \
	  for pid in $$pids; do wait $$pid || exit 1; done; done

release: $(STAMP)
	$(HOMEWORK) release $(if $(CHAPTERS),--chapters $(CHAPTERS))

# Homework (homework/README.md). Some students only: STUDENTS="alice bob"; the profile the
# notebooks run at: PROFILE (default ci); the limit on one notebook: TIME_LIMIT (seconds).
# The tool exits 0 (all graded), 1 (some submission or file reported) or 2 (usage); make
# turns any failure into its own status 2 and names the tool's ("Error 1") in its message.
due: $(STAMP)
	@test -n "$(DUE)" -a -n "$(CHAPTERS)" || { echo 'usage: make due CHAPTERS="03_rnn_seq2seq" DUE="2025-03-01 17:00 Europe/Paris"' >&2; exit 2; }
	$(HOMEWORK) due "$(DUE)" --chapters $(CHAPTERS)

autograde: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo 'usage: make autograde SUBMISSIONS=folder (folder/<student>/<chapter>.ipynb)' >&2; exit 2; }
	$(HOMEWORK) autograde "$(SUBMISSIONS)" --profile $(PROFILE) $(if $(CHAPTERS),--chapters $(CHAPTERS)) \
		$(if $(STUDENTS),--student $(STUDENTS)) $(if $(TIME_LIMIT),--time-limit $(TIME_LIMIT))

scores: $(STAMP)
	$(HOMEWORK) scores

feedback: $(STAMP)
	$(HOMEWORK) feedback $(if $(CHAPTERS),--chapters $(CHAPTERS)) $(if $(STUDENTS),--student $(STUDENTS))

test: lint pairs unit-main chapters-and-beside
