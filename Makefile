# The two commands of the README:
#   make lab    open the course in JupyterLab (on chapters/, serving the repository root)
#   make test   lint, check the notebook pairs, run the unit tests, execute every chapter,
#               autograde submissions with nbgrader (make homework), simulate Colab and
#               build the package (make colab)
# and `make book` (the HTML book in build/book/html), and the instructors' two
# (homework/README.md):
#   make release                     student versions of the chapters in release/
#   make autograde SUBMISSIONS=dir   grade dir/<student>/<chapter>.ipynb into a CSV
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

.PHONY: lab test setup lint pairs unit chapters homework colab release autograde book

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

unit: $(STAMP)
	$(PY) -m pytest tests -m "not homework and not colab"

# make chapters PROFILE=gpu: every chapter under nbval at the gpu profile (a GPU machine).
# At the ci profile a chapter over 1.5 x its course.toml budget fails (tools/run_chapters.py).
PROFILE ?= ci
chapters: $(STAMP)
	S2S_PROFILE=$(PROFILE) $(PY) tools/run_chapters.py $(if $(CHAPTERS),--chapters $(CHAPTERS))

# After the chapters, so the ci models they trained are in the cache.
homework: $(STAMP)
	$(PY) -m pytest tests -m homework

# The HTML book, offline: build/book/html/index.html (tests/test_book.py opens it in Chromium).
book: $(STAMP)
	$(PY) tools/book.py

# Colab simulated in a fresh venv (chapter 1 through its install cell), and the wheel and sdist.
colab: $(STAMP)
	$(PY) -m pytest tests -m colab

release: $(STAMP)
	$(HOMEWORK) release $(if $(CHAPTERS),--chapters $(CHAPTERS))

autograde: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo 'usage: make autograde SUBMISSIONS=folder (folder/<student>/<chapter>.ipynb)' >&2; exit 2; }
	$(HOMEWORK) autograde "$(SUBMISSIONS)" $(if $(CHAPTERS),--chapters $(CHAPTERS))

test: lint pairs unit chapters homework colab
