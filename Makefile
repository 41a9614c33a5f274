# The two commands the README promises, on a fresh machine:
#   make demo   set up, then run the embedded demo end to end
#   make test   set up (venv, Podman's Docker API, script image), then run every test
# Other targets: make setup, make podman, make bench, make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup podman demo test bench clean

# Reinstall when the dependencies or the list of packages change (an editable install
# maps the packages it saw; a new package would otherwise import as a namespace).
PACKAGES := $(wildcard */__init__.py)

$(STAMP): pyproject.toml $(PACKAGES)
	@echo "setup: $(VENV) with memo-taskrunner and its test dependencies (pip)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Podman's Docker-compatible API on var/podman/podman.sock and the script image.
podman:
	bash docker/podman-up.sh

# The sample library lives in the local MariaDB, read by the scripts as production's is.
# Containers when Podman can be set up here (root, apt), the process sandbox otherwise:
# podman-up.sh's step lines show as they come, the tools' output stays in PODMAN_LOG.
PODMAN_LOG := var/demo/podman-up.log

demo: setup
	@echo "setup: MariaDB on 127.0.0.1:3306 (.ci/mariadb-up.sh)"
	@bash .ci/mariadb-up.sh
	@echo "setup: Podman's Docker API and the script image (docker/podman-up.sh; full output in $(PODMAN_LOG))"
	@MEMO_PODMAN_LOG=$(PODMAN_LOG) bash docker/podman-up.sh >/dev/null \
	    || echo "demo: no container runtime (docker/podman-up.sh failed; its full output: $(PODMAN_LOG)); using the process sandbox"
	$(BIN)/memo-taskrunner demo

test: setup podman
	bash .ci/mariadb-up.sh
	. var/podman/env && PREFECT_HOME=$(CURDIR)/var/prefect-test $(BIN)/pytest -q -p no:cacheprovider

bench: setup podman
	. var/podman/env && $(BIN)/python bench/run_all.py

clean:
	-bash docker/podman-down.sh
	rm -rf var $(VENV)
