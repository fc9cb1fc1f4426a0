# xieshang: `make demo` and `make test` each create .venv, install and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE ?= examples/first-late-payment.json

.PHONY: demo test test-fast lint typecheck unit install-check bench bench-peers examples clean browser screenshots

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("xieshang needs Python 3.11 or 3.12 (durable-rules does not import on 3.13+)") if not ((3, 11) <= sys.version_info[:2] <= (3, 12)) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/xieshang advise $(EXAMPLE)

test: $(VENV)/.installed browser lint typecheck unit install-check

# Headless Chromium (Debian's packages) for the browser tests and screenshots, installed when
# missing. Never fatal: without it the browser tests skip with a loud message.
browser:
	@(command -v chromium >/dev/null && command -v chromedriver >/dev/null) || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null) || \
	  echo "WARNING: Debian chromium/chromium-driver could not be installed; browser tests will be SKIPPED"

# The inner loop: ruff and the tests not marked slow (subprocess, property, scale, thread tests).
test-fast: $(VENV)/.installed
	$(BIN)/ruff check engine cli tests tools
	$(BIN)/ruff format --check engine cli tests tools
	$(BIN)/python -m pytest -m "not slow" -n auto

lint: $(VENV)/.installed
	$(BIN)/ruff check engine cli tests tools
	$(BIN)/ruff format --check engine cli tests tools

typecheck: $(VENV)/.installed
	$(BIN)/mypy engine cli

unit: $(VENV)/.installed
	$(BIN)/python -m pytest

# A non-editable wheel in a fresh venv must work: rules and schemas ship inside it.
install-check: $(VENV)/.installed
	rm -rf build/wheel build/venv
	$(BIN)/python -m build --wheel --outdir build/wheel . >/dev/null
	$(PYTHON) -m venv build/venv
	build/venv/bin/python -m pip install -q build/wheel/*.whl
	cd build && venv/bin/xieshang advise ../$(EXAMPLE) --format json > advice.json
	cd build && venv/bin/xieshang rules validate
	cd build && rm -rf documents && venv/bin/xieshang documents ../$(EXAMPLE) --out documents >/dev/null
	cd build && venv/bin/python -c 'from cli.web.app import STATIC; names = sorted(p.name for p in STATIC.iterdir()); assert {"index.html", "app.js", "style.css"} <= set(names), names; print("install-check: the page ships in the wheel:", " ".join(names))'
	cd build && (venv/bin/xieshang rules test > rules-test.txt || (cat rules-test.txt; exit 1)) && tail -n 1 rules-test.txt
	$(BIN)/xieshang advise $(EXAMPLE) --format json | cmp - build/advice.json
	$(BIN)/python -c 'import json, jsonschema; jsonschema.validate(json.load(open("build/advice.json")), json.load(open("schemas/advice.schema.json"))); print("install-check: the wheel installs, advises, validates, and matches the source tree byte for byte")'

# Regenerate examples/*.expected.txt after a deliberate rule change; review the diff.
examples: $(VENV)/.installed
	$(BIN)/python tools/update_examples.py

# One PNG per document type in docs/images/ (headless Chromium); look at them after a template change.
screenshots: $(VENV)/.installed browser
	$(BIN)/python tools/screenshots.py

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

# The peer benchmark of issue 14 (bench/peers/README.md): zen-engine, CLIPS, durable_rules
# driven directly, generated plain Python and both xieshang backends on one seeded workload,
# every cell verified equal to plain Python. Prints the table and writes $(PEERS_OUT)/table.md;
# about 20 minutes on 2 cores. PEERS_NS and PEERS_ENGINES narrow it (bench/peers/run_all.py).
PEERS_OUT ?= build/peers
bench-peers: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python bench/peers/run_all.py $(PEERS_OUT)
	$(BIN)/python bench/peers/table.py $(PEERS_OUT)/results.json $(PEERS_OUT)/table.md

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
