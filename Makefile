# KinTwin CLI — set up, demo, test, benchmark. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Real OpenSim data used by tests, the demo and benchmarks (read-only; never copied into the repo).
export KINTWIN_SHARED_DATA ?= $(abspath ../shared/data)
DEMO_DIR ?= demo-output

.PHONY: help venv install install-test demo test lint bench browser clean

help:
	@echo "make demo   set up .venv and run KinTwin on the bundled default example"
	@echo "make test   set up .venv with test extras and run the whole test suite"
	@echo "make bench  run benchmarks/, writing JSON to benchmarks/results/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

EXAMPLE := $(DEMO_DIR)/example/Pipelines/Gait10dof18musc/OutputReference

demo: install
	KINTWIN_EXAMPLES_FROM=$(KINTWIN_SHARED_DATA)/opensim-models \
	  $(BIN)/kintwin examples fetch --dest $(DEMO_DIR)/example
	$(BIN)/kintwin inspect $(EXAMPLE)/subject01.osim
	$(BIN)/kintwin inspect $(EXAMPLE)/IK/subject01_walk_IK.mot
	$(BIN)/kintwin convert model $(EXAMPLE)/subject01.osim -o $(DEMO_DIR)/model --force
	$(BIN)/kintwin validate $(EXAMPLE)/subject01.osim --ik $(EXAMPLE)/IK/subject01_walk_IK.mot \
	  --markers $(EXAMPLE)/ExperimentalData/subject01_walk.trc --muscles \
	  --report $(DEMO_DIR)/validation --force
	$(BIN)/kintwin id --method classic --model $(EXAMPLE)/subject01.osim \
	  --coordinates $(EXAMPLE)/IK/subject01_walk_IK.mot \
	  --external-loads $(EXAMPLE)/ExperimentalData/subject01_walk_grf.xml --lowpass-hz 6 \
	  -o $(DEMO_DIR)/subject01_walk_ID_classic.sto --force
	$(BIN)/kintwin id --model $(EXAMPLE)/subject01.osim \
	  --coordinates $(EXAMPLE)/IK/subject01_walk_IK.mot \
	  --policy policies/pretrained/gait10dof18musc_walk_torque -o $(DEMO_DIR)/imitation --force
	$(BIN)/kintwin compare $(DEMO_DIR)/imitation/subject01_walk_id.sto \
	  $(EXAMPLE)/ID/Results/subject01_walk_ID.sto --model $(EXAMPLE)/subject01.osim \
	  --plot $(DEMO_DIR)/imitation/id_vs_opensim_id.png --force
	$(BIN)/kintwin compare $(DEMO_DIR)/imitation/subject01_walk_grf.mot \
	  $(EXAMPLE)/ExperimentalData/subject01_walk_grf.mot --rename r_= --rename l_=1_ \
	  --model $(EXAMPLE)/subject01.osim --plot $(DEMO_DIR)/imitation/grf_vs_force_plates.png --force
	@echo "demo outputs in $(DEMO_DIR)/: model/ (MJCF), validation/ (muscle CSV + plot),"
	@echo "  subject01_walk_ID_classic.sto (with force plates), imitation/ (no force plates: ID, GRF,"
	@echo "  kinematics, summary, plots against OpenSim's ID and the force plates)"

test: install browser
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check kintwin_cli converters policies tests benchmarks

bench: install browser
	$(BIN)/python -m benchmarks.run --out benchmarks/results

# Headless Chromium (Debian's package) for the report's browser test; skipped where apt is absent.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	      fonts-dejavu-core; } || echo "no chromium: the report's browser test will be skipped"

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
