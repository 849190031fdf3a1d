# The two commands of the README. Each first completes the project-local virtual environment
# (tools/setup_env.sh: a no-op when it is already complete).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: env test test-fast demo

env:
	bash tools/setup_env.sh $(VENV)

# The whole suite, slow-marked tests included (this is what CI runs).
test: env
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

# Everything but the tests marked slow, for a quick local loop.
test-fast: env
	$(PYTHON) -m pytest tests -m "not slow" $(PYTEST_ARGS)

demo: env
	$(PYTHON) tools/run_demo.py
