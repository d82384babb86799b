# The demo: included by the top Makefile (-include demo/demo.mk).
#
#   make demo                      the leaky web app caught end to end, until Ctrl-C
#   make demo DEMO_ARGS="--duration 10"
#
# See demo/README.md. Prometheus and Alertmanager come with deps-test;
# gnuplot-nox draws the picture.

DEMO_PACKAGES := prometheus prometheus-alertmanager gnuplot-nox
DEMO_ARGS ?=

.PHONY: demo

demo: build deps-test
	@scripts/ensure-packages $(DEMO_PACKAGES)
	$(PYTHON) demo/run-demo.py --build $(abspath $(BUILD)) $(DEMO_ARGS)
