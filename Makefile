# lsbench: `make demo` and `make test` work in a fresh clone with nothing installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint install clean reference mutation

# Create the virtual environment and install lsbench (editable) with every extra (torch, dask, coco) and
# the dev tools. pyproject.toml puts no upper bound on torch; TORCH_PINS keeps this project's build
# machines on the releases their disk holds (pip there is capped at 2.14.1 / 0.29.1); elsewhere
# `make TORCH_PINS= test` installs the newest torch.
TORCH_PINS ?= torch<=2.14.1 torchvision<=0.29.1
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing lsbench and its dependencies into $(VENV): a few minutes the first time, pip's progress below"
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all,dev]' $(foreach p,$(TORCH_PINS),'$(p)') 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import lsbench, numpy, scipy, skimage, torch, torchvision, pycocotools, click, pandas, matplotlib" \
		|| (echo "error: lsbench's dependencies did not install into $(VENV)"; exit 1)
	@touch $(STAMP)

install: $(STAMP)

# The main job on the embedded synthetic data: Chan-Vese on all 360 test images -> Table 2 and the
# Figure 7-style grid (reports/demo-<time>/table2.md, figures/fig7_grid.png).
demo: $(STAMP)
	$(BIN)/lsbench run --methods cv --dataset synthetic --split test --run-id demo-$$(date +%Y%m%d-%H%M%S)

# The committed reference report, by one command: Table 2 per protocol, Tables 3-4, the figures and
# reports/reference/claims.md (lsbench.reference.REFERENCE_RUNS lists the runs). It prints the plan and the
# expected duration first, trains the missing checkpoints, refuses uncommitted changes, resumes when run
# again on the same commit, and swaps reports/reference/ in only when everything finished (docs/reference.md).
# REFERENCE_ARGS passes options, e.g. REFERENCE_ARGS=--dry-run (the plan only) or "--runs synthetic-test-box".
REFERENCE_ARGS ?=
reference: $(STAMP)
	$(BIN)/lsbench reference $(REFERENCE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not bench"

# The performance suite (tests marked `bench`: pytest-benchmark measurements, about 25 min), then
# reports/performance.md written from the benchmark JSON (also when a check failed: the report says
# which targets are met), then the slow training-to-accuracy checks (tests marked `slow`: the learned
# methods and CRLS / Mask R-CNN trained from scratch, about an hour more); the exit status is non-zero
# if any part failed. BENCH_JSON keeps the raw results. A suite pytest calls interrupted (exit status 2:
# Ctrl-C reaching pytest alone, or a collection error) stops there: no report, no hour of training.
BENCH_JSON ?= reports/.bench/benchmark.json
bench: $(STAMP)
	@mkdir -p $(dir $(BENCH_JSON))
	$(BIN)/python -m pytest -q -m bench --benchmark-enable --benchmark-columns=min,median,mean,stddev,rounds \
		--benchmark-json=$(BENCH_JSON); status=$$?; \
	if [ $$status -eq 2 ]; then echo "make bench: the suite was interrupted (pytest exit status 2: Ctrl-C or a collection error); no report written, training checks not run" >&2; exit 130; fi; \
	$(BIN)/python -m lsbench.perf $(BENCH_JSON) --out reports/performance.md || status=1; \
	$(BIN)/python -m pytest -q -m "slow and not bench" || status=1; \
	exit $$status

# Mutation testing of the numerical code (issue 15): a seeded sample of small source changes to
# lsbench/classic/, lsbench/torchclassic/, lsbench/learned/rls.py and lsbench/metrics/, each run
# against its module's fast tests in a temporary copy of the tree (the checkout is never edited);
# prints killed / survived / timeout per module and writes reports/.mutation/{results.json,summary.md}.
# One to two hours on a busy two-core machine at the defaults; MUTANTS_PER_MODULE=0 runs every mutant (days).
# The annotated result (survivors with verdicts) is reports/mutation.md; docs/testing.md explains.
MUTANTS_PER_MODULE ?= 6
MUTANTS_PER_COMPILED_MODULE ?= 2
MUTATION_SEED ?= 0
mutation: $(STAMP)
	OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 $(BIN)/python -m tests.mutation.mutate --per-module $(MUTANTS_PER_MODULE) \
		--per-compiled-module $(MUTANTS_PER_COMPILED_MODULE) --seed $(MUTATION_SEED)

lint: $(STAMP)
	$(BIN)/ruff check lsbench tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
