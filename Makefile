# forescale developer entry points.  `make demo` runs the main job, `make test` the tests.
# Both install what they need first; `make install` is idempotent and cheap when warm.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

.PHONY: install python-deps system-deps binaries vllm-wheels upstream argocd-lua inference-image lock test test-unit test-integration test-e2e lint crd demo bench-build bench bench-docs bench-holdout bench-unseen bench-season bench-season-real clean

install: python-deps system-deps binaries vllm-wheels upstream

python-deps: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

# Prometheus, promtool, Alertmanager and amtool come from Debian; we never run the packaged
# services (the tests start their own, on 127.0.0.1).
SYSTEM_PACKAGES := prometheus prometheus-alertmanager
system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null \
	  && command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || { \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	  for s in $(SYSTEM_PACKAGES); do systemctl disable --now $$s >/dev/null 2>&1 \
	    || service $$s stop >/dev/null 2>&1 || true; done; }

# kube-apiserver, etcd, kwok ... built from Go modules, cached outside the repo by version.
binaries:
	hack/build-binaries.sh

# The published vLLM wheels (pinned and previous release) the contract check reads as zip
# archives; cached by version outside the repo (~/.cache/forescale/vllm/), hash-checked.
vllm-wheels: python-deps
	$(BIN)/python -m forescale.vllm_contract.fetch

# Only Argo CD's Lua VM (the unit tests' health-check runs), without the control plane.
argocd-lua:
	hack/build-binaries.sh argocd-lua

# prometheus-operator's and Argo CD's releases (their CRDs, Argo CD's Lua environment), read
# by the tests from the Go module proxy's zips in Go's module cache; see sandbox/upstream.py.
upstream: python-deps
	$(BIN)/python -m forescale.sandbox.upstream

# The bundled inference image; its vLLM version and tag come from vllm_contract/release.py.
VLLM_RELEASE = $(BIN)/python -c 'import forescale.vllm_contract.release as r; print(r.$(1))'
inference-image: python-deps
	docker build --build-arg VLLM_VERSION=$$($(call VLLM_RELEASE,VLLM_VERSION)) \
	  -t $$($(call VLLM_RELEASE,DEFAULT_IMAGE)) inference-image/

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra sim --extra dev --python-version 3.11 -q -o requirements.lock

test: install
	$(BIN)/python -m pytest tests -p no:cacheprovider

test-unit: python-deps vllm-wheels upstream argocd-lua
	$(BIN)/python -m pytest tests/unit -p no:cacheprovider

test-integration: install
	$(BIN)/python -m pytest tests/integration -p no:cacheprovider

test-e2e: install
	$(BIN)/python -m pytest tests/e2e -p no:cacheprovider

lint: python-deps
	$(BIN)/ruff check operator tests inference-image
	$(BIN)/ruff format --check operator tests inference-image
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/forescale crd | diff -u crds/forescale.io_llmdeployments.yaml -

crd: python-deps
	$(BIN)/forescale crd > crds/forescale.io_llmdeployments.yaml

demo: install
	$(BIN)/forescale sandbox demo

# The policy benchmark of docs/benchmarks.md, in the issue's full configuration: every policy
# variant over its knob, 5 seeds, the two Azure traces (whole) and six 30-minute scenarios,
# rate-scaled to a peak need of 8 replicas (max 16: the size whose full sweep fits 30 minutes
# on 2 cores; peak 16 / max 32 is about twice the CPU); then the policy's decision latency. Results, frontiers, report and
# figures go to out/bench/ (`make bench-docs` copies them into docs/benchmarks/). The
# simulator's hot modules run compiled by mypyc (forescale.sim.bench_compile), checked first
# against the pinned figures of tests/unit/sim/test_fleet_equivalence.py.
BENCH_BUILD := out/bench-build
# The recorded sweep's configuration, shared by `bench` and `bench-holdout`.
BENCH_SWEEP := --sweep --seeds 5 --cold-start 180s --slo-ttft 2s --peak-replicas 8 \
  --max-replicas 16 --jobs 2 --seed 0
bench-build: python-deps
	$(BIN)/python -m forescale.sim.bench_compile $(BENCH_BUILD)
	PYTHONPATH=$(BENCH_BUILD) $(BIN)/python -c \
	  "import forescale.sim.fleet as f, sys; sys.exit(not f.__file__.endswith('.so'))"
	PYTHONPATH=$(BENCH_BUILD) $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/unit/sim/test_fleet_equivalence.py

bench: bench-build
	PYTHONPATH=$(BENCH_BUILD) $(BIN)/forescale bench \
	  --trace ../shared/traces/azure-llm-2023-code.csv \
	  --trace ../shared/traces/azure-llm-2023-conv.csv \
	  --trace steady --trace step --trace ramp --trace flash --trace flash2 --trace diurnal \
	  $(BENCH_SWEEP) --scenario-duration 30m --out out/bench
	$(BIN)/python -m forescale.sim.decision_latency --out out/bench/decision-latency.json

# The same sweep on windows of the two Azure traces that no round tuned on (they start at a
# peak, mid-burst or in a lull and last 20-30 minutes; forescale.sim.bench_holdout says why),
# one `forescale bench` per window into out/holdout/<window>/, then one table of issue 10's
# targets per window and trace: out/holdout/holdout.md (docs/benchmarks/holdout.md). About
# 7 minutes on 2 cores.
HOLDOUT_WINDOWS := 0:20m 0:30m 15m:45m 30m: 40m:
bench-holdout: bench-build
	set -e; for w in $(HOLDOUT_WINDOWS); do \
	  PYTHONPATH=$(BENCH_BUILD) $(BIN)/forescale bench \
	    --trace ../shared/traces/azure-llm-2023-code.csv \
	    --trace ../shared/traces/azure-llm-2023-conv.csv --window $$w \
	    $(BENCH_SWEEP) --out out/holdout/$${w/:/-}; \
	done
	$(BIN)/python -m forescale.sim.bench_holdout \
	  $(foreach w,$(HOLDOUT_WINDOWS),out/holdout/$(subst :,-,$(w))) --out out/holdout/holdout.md

# The same sweep on six shapes no round was tuned on (forescale.sim.scenarios_unseen says
# which and why), 30 minutes each, into out/unseen/, then the targets table:
# out/unseen/unseen.md (docs/benchmarks/unseen.md). About 10 minutes on 2 cores.
UNSEEN_SHAPES := sawtooth stairs wave onoff surge mixshift
bench-unseen: bench-build
	PYTHONPATH=$(BENCH_BUILD) $(BIN)/forescale bench $(foreach s,$(UNSEEN_SHAPES),--trace $(s)) \
	  $(BENCH_SWEEP) --scenario-duration 30m --out out/unseen
	$(BIN)/python -m forescale.sim.bench_holdout out/unseen --heading run --out out/unseen/unseen.md

# The season over whole days: the workday scenario (x5 from 09:00 to 17:00) for 3 days, 2
# seeds, forescale with and without its daily cycle beside reactive, keda and a fixed fleet,
# per day (forescale.sim.bench_season says why): out/bench-season/season.md
# (docs/benchmarks/season.md). About 4.5 GB of memory per job.
bench-season: bench-build
	PYTHONPATH=$(BENCH_BUILD) $(BIN)/python -m forescale.sim.bench_season \
	  --days 3 --seeds 2 --jobs 2 --out out/bench-season

# The same over real services' weeks, six days of hourly counts each (Poisson arrivals around
# them), with the 2023 conversation trace's request sizes: the Azure LLM inference trace 2024's
# conversation service from a Sunday, and BurstGPT's days 7-12 twice: every request (a
# multi-hour API flood on days 9-10) and its conversation log alone (near-empty nights).
# out/bench-season-real/<profile>/season.md (docs/benchmarks/season-<profile>.md; <profile> is
# what its table calls it, scenarios.display_name); about
# 24 minutes, 3.5 GB of memory per job.
AGGREGATES := ../shared/traces/aggregates
REAL_WEEKS := $(AGGREGATES)/azure-llm-2024-conv-hourly.csv \
  $(AGGREGATES)/burstgpt-1-hourly.csv\#all@7 $(AGGREGATES)/burstgpt-1-hourly.csv\#conversation@7
bench-season-real: bench-build
	for week in $(REAL_WEEKS); do \
	  name=$$($(BIN)/python -c 'import sys; from forescale.sim.scenarios import display_name; \
	    print(display_name("hourly:" + sys.argv[1]))' "$$week") || exit 1; \
	  PYTHONPATH=$(BENCH_BUILD) $(BIN)/python -m forescale.sim.bench_season \
	    --days 6 --seeds 2 --jobs 2 --scenario "hourly:$$week" \
	    --mix ../shared/traces/azure-llm-2023-conv.csv --out "out/bench-season-real/$$name" \
	    || exit 1; \
	done

# Copy the recorded sweep (report, JSONs, figures) from out/bench/ into docs/benchmarks/, and
# the held-out, unseen-shape and season tables (`make bench-holdout`, `make bench-unseen`,
# `make bench-season`) if they were run.
bench-docs:
	test -f out/bench/report.md
	mkdir -p docs/benchmarks
	cp out/bench/report.md out/bench/results.json out/bench/frontier.json out/bench/*.png \
	  docs/benchmarks/
	if [ -f out/bench/decision-latency.json ]; then \
	  cp out/bench/decision-latency.json docs/benchmarks/; fi
	if [ -f out/holdout/holdout.md ]; then cp out/holdout/holdout.md docs/benchmarks/; fi
	if [ -f out/unseen/unseen.md ]; then cp out/unseen/unseen.md docs/benchmarks/; fi
	if [ -f out/bench-season/season.md ]; then cp out/bench-season/season.md docs/benchmarks/; fi
	for run in out/bench-season-real/*/; do \
	  [ -f "$$run/season.md" ] && cp "$$run/season.md" "docs/benchmarks/season-$$(basename $$run).md"; \
	done; true

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
