# infantpose: two commands do everything on a fresh machine.
#   make demo   set up .venv and run the main job (synthetic adults -> infants)
#   make test   set up .venv, check notebooks are clean and exported, run every notebook and tests/
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# 2 cores: one pytest worker per core, one BLAS thread per worker.
WORKERS ?= 2
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export PYTHONHASHSEED ?= 0
export MPLBACKEND ?= Agg

.PHONY: help venv test check-clean pytest demo baseline bench clean-venv book syrip-model
BASELINE_VENV ?= .venv-baseline
BASELINE_STAMP := $(BASELINE_VENV)/.installed

help:
	@echo "make demo      - create .venv (if needed) and run the main job: train on synthetic adults, adapt to infants"
	@echo "make test      - create .venv (if needed), check notebooks are clean and exported, run all tests"
	@echo "make baseline  - BlazePose (mediapipe, own venv) on the real SyRIP test and val splits: outputs/baseline/"
	@echo "make bench     - run the speed benchmarks in benchmarks/ (prints ratios)"
	@echo "make syrip-model SYRIP=/path - with SyRIP: the real-data chain (shipped renders model -> 120 real infants, ~21 CPU min, resumable), scored on val and test"
	@echo "make book      - execute the notebooks in place (chapters, tutorials, experiments) so they are committed with outputs; NBS=... for some"
	@echo "make gpu-check - on a GPU machine (its own python3, no .venv): CUDA checks, notebooks on cuda, throughput -> gpu_check/report.md; without a GPU a CPU dry run"
	@echo "make gpu-check-prepare - here, before: the wheels and SyRIP images gpu-check carries (gpu_check/wheels, gpu_check/data)"

# Re-install only when the project definition changed.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# nbdev-export / nbdev-clean must not change anything: the package is generated from the notebooks
# and notebooks are committed clean. Compare the tree before and after instead of demanding a clean
# tree, so this also works while you have uncommitted edits.
check-clean: $(STAMP)
	@before=$$(git status --porcelain -- nbs infantpose; git diff -- nbs infantpose | sha1sum); \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean; \
	after=$$(git status --porcelain -- nbs infantpose; git diff -- nbs infantpose | sha1sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: nbdev-export / nbdev-clean changed files: export and clean the notebooks, then commit."; \
	  git status --short -- nbs infantpose; exit 1; fi
	@echo "notebooks clean and in sync with infantpose/"

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist load --durations 15 tests

test: check-clean pytest

# The demo is one process: its training uses every core (the tests above run one single-threaded worker per core;
# nproc itself would answer OMP_NUM_THREADS).
demo: $(STAMP)
	n=$$(env -u OMP_NUM_THREADS nproc); OMP_NUM_THREADS=$$n MKL_NUM_THREADS=$$n $(BIN)/infantpose demo --figures figures

# The off-the-shelf adult baseline lives in its own venv: mediapipe 0.10.21 pins numpy<2 (not a package dependency).
$(BASELINE_STAMP):
	@test -x $(BASELINE_VENV)/bin/python || $(PYTHON) -m venv $(BASELINE_VENV)
	$(BASELINE_VENV)/bin/python -m pip install -q mediapipe==0.10.21 "numpy<2" pillow tqdm
	@touch $@

baseline: $(STAMP) $(BASELINE_STAMP)
	@for split in test val; do \
	  $(BASELINE_VENV)/bin/python baselines/blazepose.py --split $$split --out outputs/baseline/blazepose_$${split}_results.json && \
	  $(BIN)/python baselines/evaluate_baseline.py --split $$split --results outputs/baseline/blazepose_$${split}_results.json \
	    --name blazepose_$$split --figure figures/baseline_blazepose_$${split}_cases.png || exit 1; done

# With SyRIP (a folder with annotations/ and images/; splits from data/syrip_split.json): the benchmark's real-data chain
# (the shipped renders-only model -> 110 epochs on the 120 real train infants, bf16, ~21 CPU minutes on 1 core, resumable),
# scored on val and test by nbs/experiments/real_infant_benchmark.ipynb.
BENCH_RUNS := ship_real_256_e110
syrip-model: $(STAMP)
	@test -n "$(SYRIP)" || { echo "usage: make syrip-model SYRIP=/path/to/syrip (annotations/ and images/ of SyRIP's real images)"; exit 2; }
	SYRIP_TRAIN200=$(abspath $(SYRIP)) $(BIN)/papermill nbs/experiments/real_infant_benchmark.ipynb outputs/benchmark/report.ipynb \
	  --cwd nbs/experiments -p train True -p runs $(BENCH_RUNS) -p final ship_real_256_e110 -p out_dir ../../outputs/benchmark/report
	@echo "model: outputs/benchmark/runs/ship_real_256_e110/model.pt; use it as the shipped one:"
	@echo "  infantpose predict photo.jpg --model outputs/benchmark/runs/ship_real_256_e110/model.pt --out poses/"

# The book is committed executed: run the chapters and tutorials (default settings, slow cells skipped) and experiment
# notebooks (small defaults) in place, record their code hashes in nbs/executed.json (tests/test_book.py checks them).
book: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/python tools/run_book.py $(NBS) && $(BIN)/nbdev-clean

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)

# gpu-check runs with the machine's own python (a GPU machine has PyTorch but no .venv and no network); what it lacks
# travels in gpu_check/wheels and gpu_check/data, written here by gpu-check-prepare. See gpu_check/run.py.
.PHONY: gpu-check gpu-check-prepare
gpu-check:
	$(PYTHON) gpu_check/run.py

gpu-check-prepare: $(STAMP)
	$(BIN)/python gpu_check/prepare.py
