# The two commands of the README are `make demo` and `make test`; both set up what they need.
# Everything runs from a virtual environment in .venv; system packages come from apt.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD := build
DIST := $(BUILD)/dist
INSTALL_ROOT := $(BUILD)/install
COLLECTION_VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := $(DIST)/backup-hyperv-$(COLLECTION_VERSION).tar.gz
PROXY_PACKAGE := $(BUILD)/proxy-package/$(COLLECTION_VERSION)/package/SHA256SUMS
# Sanity tests run by `make sanity` (ansible-test's list; pslint and shellcheck run only where pwsh/shellcheck exist).
SANITY_TESTS ?= action-plugin-docs ansible-doc changelog compile empty-init ignores import line-endings \
	no-assert no-get-exception no-illegal-filenames no-smart-quotes pep8 pylint replace-urlopen \
	runtime-metadata shebang symlinks use-argspec-type-path use-compat-six validate-modules yamllint
PYTEST_ARGS ?=

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(STAMP)  ## create .venv with the controller and test dependencies

.PHONY: system-deps
system-deps: $(STAMP)  ## install the system packages of bindep.txt's test profile that are missing (qemu-img, chromium, ...)
	@tools/install_system_deps.sh

.PHONY: ruff
ruff: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: unit
unit: $(STAMP) system-deps $(PROXY_PACKAGE)  ## pytest: unit and integration tests
	$(BIN)/python -m pytest -n 2 tests/unit $(wildcard tests/integration) $(PYTEST_ARGS)

.PHONY: sanity
sanity: $(STAMP)  ## ansible-test sanity on a staged copy of the collection
	tools/run_sanity.sh $(BIN) $(SANITY_TESTS)

.PHONY: lint
lint: ruff $(STAMP)  ## ruff + ansible-lint (production profile) over roles and playbooks
	$(BIN)/ansible-lint --profile production

.PHONY: build
build: $(STAMP)  ## build the collection tarball and install it into build/install
	rm -rf $(DIST) $(INSTALL_ROOT)
	$(BIN)/ansible-galaxy collection build --force --output-path $(DIST)
	$(BIN)/ansible-galaxy collection install --force -p $(INSTALL_ROOT) $(TARBALL)

.PHONY: docs
docs: build  ## check that ansible-doc renders every module and role of the installed tarball
	tools/check_docs.sh $(BIN) $(INSTALL_ROOT)

.PHONY: molecule
molecule: $(STAMP) system-deps $(PROXY_PACKAGE)  ## Molecule `test` of both roles on the lab (create, converge, idempotence, verify, destroy)
	for role in managed_server offhost_proxy; do \
		(cd roles/$$role && PATH="$(abspath $(BIN)):$$PATH" ../../$(BIN)/molecule test); \
	done

.PHONY: test
test: ruff unit sanity lint docs molecule  ## the whole suite (what CI runs)
	@echo "make test: all gates passed"

.PHONY: proxy-package
proxy-package: $(PROXY_PACKAGE)  ## build the proxy package (data mover, installer service) for Windows: build/proxy-package/<version>/ (docs/installs.md)

# Rebuilt only when what goes into it changed; the demo, Molecule and the lab tests stage this one.
$(PROXY_PACKAGE): $(STAMP) tools/proxy_package.py tools/proxy_package_launcher.py tools/proxy_package_bytecode.py \
		tools/proxy_package_constraints.txt \
		requirements.txt galaxy.yml roles/offhost_proxy/defaults/main.yml roles/managed_server/defaults/main.yml \
		$(shell find plugins/module_utils/datamover proxy/installer -name '*.py' -o -name '*.c')
	@tools/install_system_deps.sh package
	$(BIN)/python tools/proxy_package.py

.PHONY: demo
demo: $(STAMP) system-deps build $(PROXY_PACKAGE)  ## run the main job on the embedded lab
	$(BIN)/python tools/demo.py --collections $(INSTALL_ROOT) --package-version $(COLLECTION_VERSION)

.PHONY: bench
bench: $(STAMP)  ## data mover benchmark against restic and borg (prints one table)
	tools/install_system_deps.sh bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

.PHONY: bench-job
bench-job: $(STAMP) system-deps build  ## the backup job at estate scale on the lab: 1 and 2 proxies, 40 and 256 VMs (one table)
	$(BIN)/python bench/job.py --collections $(INSTALL_ROOT) $(BENCH_JOB_ARGS)

.PHONY: design
design: $(STAMP)  ## regenerate the import graph in docs/design.md (a test fails when it is stale)
	$(BIN)/python tools/import_graph.py --write docs/design.md

.PHONY: clean
clean:  ## remove build output (keeps .venv)
	rm -rf $(BUILD) tests/output .pytest_cache .ruff_cache
