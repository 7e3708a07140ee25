# Convenience targets; the work is done by tools/build_wheel.py (python tools/build_wheel.py --help).
PYTHON ?= python3
ARGS ?=

.PHONY: wheel wheel-all

# Wheel of HEAD: build, auditwheel repair, fresh venv, test suite outside the tree.
wheel:
	$(PYTHON) tools/build_wheel.py $(ARGS)

# The same, plus the sdist path and a second test run on the portable kernels.
wheel-all:
	$(PYTHON) tools/build_wheel.py --sdist --isa auto --isa baseline $(ARGS)
