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
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Podman's Docker-compatible API on var/podman/podman.sock and the script image.
podman:
	bash docker/podman-up.sh

# The sample library lives in the local MariaDB, read by the scripts as production's is.
# Containers when Podman can be set up here (root, apt), the process sandbox otherwise.
demo: setup
	bash .ci/mariadb-up.sh
	-bash docker/podman-up.sh > var-podman-up.log 2>&1 || echo "demo: no container runtime (see var-podman-up.log); using the process sandbox"
	@rm -f var-podman-up.log
	$(BIN)/memo-taskrunner demo

test: setup podman
	bash .ci/mariadb-up.sh
	. var/podman/env && PREFECT_HOME=$(CURDIR)/var/prefect-test $(BIN)/pytest -q -p no:cacheprovider

bench: setup podman
	. var/podman/env && $(BIN)/python bench/run_all.py

clean:
	-bash docker/podman-down.sh
	rm -rf var $(VENV)
