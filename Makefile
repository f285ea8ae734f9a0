# Two entry points for newcomers: `make demo` (install everything + run the seed example)
# and `make test` (run the test suite). Everything else is a helper of those two.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint-rtl clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	mkdir -p build/demo && cd build/demo && ../../$(PY) ../../examples/seed_example.py
	@echo "demo outputs in build/demo (config_hw.svh, vectors/config_fw.h, vectors/weights.bin, ...)"

test: $(STAMP)
	$(PY) -m pytest -q

lint-rtl:
	bash rtl/tb/lint.sh

clean:
	rm -rf build examples/work .pytest_cache
