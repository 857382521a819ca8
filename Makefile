# tongdai: `make run` starts a contact centre with a demo tenant; `make test` runs the suite.
# Both install whatever is missing first (Debian packages, .venv with the project).
# The suite runs in two processes (a test file stays in one), then the tests marked `serial`
# (fine audio and timing measurements) run alone.
.PHONY: run test bench lint deps deps-test clean

VENV := .venv
PY := $(VENV)/bin/python

deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

run: deps
	$(VENV)/bin/tongdai run --demo

test: deps-test
	$(PY) -m pytest -m "not slow and not bench and not serial" -q -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)
	$(PY) -m pytest -m "serial and not slow and not bench" -q --durations=5 $(PYTEST_ARGS)

bench: deps-test
	$(VENV)/bin/pip install -q -e ".[dev,bench]"
	$(PY) -m pytest tests bench -m "slow or bench" -q -s $(PYTEST_ARGS)

lint: deps-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var/*.db build *.egg-info src/*.egg-info
