# The two commands the README promises, on a fresh machine:
#   make demo   set up, then run the embedded demo end to end
#   make test   set up (venv, Podman's Docker API, script image), then run every test
# Other targets: make setup, make podman, make bench, make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_READY := $(VENV)/.pip-ready
PIP_LOG   := var/setup-pip.log

.PHONY: setup podman demo demo-mariadb demo-podman test bench clean

# Reinstall when the dependencies or the list of packages change (an editable install
# maps the packages it saw; a new package would otherwise import as a namespace).
PACKAGES := $(wildcard */__init__.py)

# The venv and a current pip first, so that the slow steps after it may run side by side
# (podman-up.sh may take its pip). pip's own words go to PIP_LOG, shown when it fails.
$(PIP_READY):
	@echo "setup: $(VENV) with a current pip"
	@mkdir -p var
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -f $(STAMP) || $(BIN)/pip install --quiet --upgrade pip >$(PIP_LOG) 2>&1 \
	    || { tail -20 $(PIP_LOG); echo "setup: pip failed; its full output: $(PIP_LOG)"; exit 1; }
	@touch $@

$(STAMP): pyproject.toml $(PACKAGES) | $(PIP_READY)
	@echo "setup: memo-taskrunner and its test dependencies into $(VENV) (pip, ≈ 1 min the first time)"
	@$(BIN)/pip install --quiet -e '.[test]' >>$(PIP_LOG) 2>&1 \
	    || { tail -20 $(PIP_LOG); echo "setup: pip failed; its full output: $(PIP_LOG)"; exit 1; }
	@touch $(STAMP)

setup: $(STAMP)

# Podman's Docker-compatible API on var/podman/podman.sock and the script image.
podman:
	bash docker/podman-up.sh

# The sample library lives in the local MariaDB, read by the scripts as production's is.
# Containers when Podman can be set up here (root, apt), the process sandbox otherwise:
# podman-up.sh's step lines show as they come, the tools' output stays in PODMAN_LOG.
PODMAN_LOG := var/demo/podman-up.log

# The packages, MariaDB and Podman with the image are set up side by side (-j3).
demo:
	@$(MAKE) --no-print-directory $(PIP_READY)
	@$(MAKE) --no-print-directory -j3 $(STAMP) demo-mariadb demo-podman
	$(BIN)/memo-taskrunner demo

demo-mariadb:
	@echo "setup: MariaDB on 127.0.0.1:3306 (.ci/mariadb-up.sh)"
	@bash .ci/mariadb-up.sh

demo-podman:
	@echo "setup: Podman's Docker API and the script image (docker/podman-up.sh; full output in $(PODMAN_LOG))"
	@MEMO_PODMAN_LOG=$(PODMAN_LOG) bash docker/podman-up.sh >/dev/null \
	    || echo "demo: no container runtime (docker/podman-up.sh failed; its full output: $(PODMAN_LOG)); using the process sandbox"

test: setup podman
	$(BIN)/ruff check .
	bash .ci/mariadb-up.sh
	. var/podman/env && PREFECT_HOME=$(CURDIR)/var/prefect-test $(BIN)/pytest -q -p no:cacheprovider

bench: setup podman
	. var/podman/env && $(BIN)/python bench/run_all.py

clean:
	-bash docker/podman-down.sh
	rm -rf var $(VENV)
