# memlab build. `make` builds ./memlab; `make check` runs every test; `make demo` runs the main job.
# Dependencies (Debian packages) are installed by scripts/deps.sh the first time they are missing.

CC      ?= gcc
BUILD   ?= build
# -march=native for speed; never -ffast-math (masks rely on +-inf and NaN checks must work).
OPT     ?= -O2 -march=native
CFLAGS  ?= $(OPT) -g -std=c11 -Wall -Wextra -Wno-unused-parameter
CPPFLAGS_BASE = -D_GNU_SOURCE -Ilib -fopenmp
SAN     ?=
MPI     ?= auto
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

.PHONY: all check demo figures bench asan clean deps fixtures
all: memlab

# ---- dependencies: resolved once into $(BUILD)/config.mk --------------------------------------
# OpenBLAS is linked in its OpenMP build (by path, with an rpath, whatever Debian's alternatives
# point at): it then shares libgomp's thread pool with the core's OpenMP loops. The pthread build
# keeps a second pool whose spinning threads fight them: measured 5-8x slower training steps on
# 2 cores (benchmarks/NOTES.md).
OMP_BLAS := /usr/lib/$(shell $(CC) -print-multiarch)/openblas-openmp
$(BUILD)/config.mk: scripts/deps.sh
	@mkdir -p $(BUILD)
	@if ! (command -v pkg-config >/dev/null && pkg-config --exists openblas yaml-0.1 zlib check \
	      && command -v gnuplot >/dev/null && [ -e $(OMP_BLAS)/libopenblas.so.0 ]); then scripts/deps.sh; fi
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags openblas yaml-0.1 zlib)"; \
	   if [ -e $(OMP_BLAS)/libopenblas.so.0 ]; then blas="-L$(OMP_BLAS) -l:libopenblas.so.0 -Wl,-rpath,$(OMP_BLAS)"; \
	   else blas="$$(pkg-config --libs openblas)"; fi; \
	   echo "PKG_LIBS := $$blas $$(pkg-config --libs yaml-0.1 zlib) -lm"; \
	   echo "CHECK_CFLAGS := $$(pkg-config --cflags check)"; \
	   echo "CHECK_LIBS := $$(pkg-config --libs check)"; \
	   if [ "$(MPI)" != off ] && command -v mpicc >/dev/null; then \
	     echo "MPI_CFLAGS := $$(mpicc --showme:compile) -DMEMLAB_MPI"; echo "MPI_LIBS := $$(mpicc --showme:link)"; fi; \
	   } > $@.tmp && mv $@.tmp $@
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(BUILD)/config.mk
endif
deps: $(BUILD)/config.mk

# Data-parallel runs over MPI (lib/core/dist.c, docs/distributed.md) when mpicc is found at
# configuration time (Debian: libopenmpi-dev); MPI=off builds without. Re-run `make clean` after
# installing it.
PKG_CFLAGS += $(MPI_CFLAGS)
PKG_LIBS += $(MPI_LIBS)

# ---- sources ----------------------------------------------------------------------------------
LIB_SRC  := $(sort $(wildcard lib/*/*.c))
EXP_SRC  := $(sort $(wildcard experiments/*.c))
TEST_SRC := $(sort $(wildcard tests/check_*.c))
# Gradient-check suites (check_grad_*.c) build against the double-precision core.
TEST_DBL := $(filter tests/check_grad_%,$(TEST_SRC))
TEST_FLT := $(filter-out $(TEST_DBL),$(TEST_SRC))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/f/%.o)
LIBD_OBJ := $(LIB_SRC:%.c=$(BUILD)/d/%.o)
EXP_OBJ  := $(EXP_SRC:%.c=$(BUILD)/f/%.o)

ALL_CFLAGS = $(CFLAGS) $(SAN) $(CPPFLAGS_BASE) $(PKG_CFLAGS)

$(BUILD)/f/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/d/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DMEMLAB_DOUBLE -MMD -MP -c $< -o $@

$(BUILD)/libmemlab.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libmemlab_double.a: $(LIBD_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libmemlab_exp.a: $(EXP_OBJ)
	@rm -f $@; ar rcs $@ $^ $(if $(EXP_OBJ),,&& ar rcs $@)

# The commit goes into one small object so that a new commit relinks but recompiles nothing else.
$(BUILD)/f/version.o: FORCE $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	@echo 'const char *memlab_git_commit = "$(GIT_COMMIT)";' > $(BUILD)/version.c.tmp
	@cmp -s $(BUILD)/version.c.tmp $(BUILD)/version.c || mv $(BUILD)/version.c.tmp $(BUILD)/version.c
	@rm -f $(BUILD)/version.c.tmp
	$(CC) $(ALL_CFLAGS) -c $(BUILD)/version.c -o $@
FORCE:

$(BUILD)/memlab: $(BUILD)/f/cmd/memlab.o $(BUILD)/f/version.o $(BUILD)/libmemlab_exp.a $(BUILD)/libmemlab.a
	$(CC) $(CFLAGS) $(SAN) -fopenmp $^ $(PKG_LIBS) -o $@

memlab: $(BUILD)/memlab
	@if [ "$(BUILD)" = "build" ]; then cp $< $@.tmp && mv $@.tmp $@; fi

# ---- tests: one runner per precision, collecting every `Suite *suite_NAME(void)` -----------------
# Regenerated every run (cheap) but only replaced when the list changes, so nothing relinks needlessly.
define suite_list
	@mkdir -p $(dir $@)
	@sed -n 's/^Suite \*\(suite_[a-z0-9_]*\)(void).*/SUITE(\1)/p' $(1) /dev/null > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
endef
$(BUILD)/tests/float_suites.inc: FORCE
	$(call suite_list,$(TEST_FLT))
$(BUILD)/tests/double_suites.inc: FORCE
	$(call suite_list,$(TEST_DBL))

$(BUILD)/tests/run_float: tests/runner.c tests/test_util.c $(TEST_FLT:%.c=$(BUILD)/f/%.o) $(BUILD)/f/version.o $(BUILD)/libmemlab_exp.a $(BUILD)/libmemlab.a $(BUILD)/tests/float_suites.inc
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/tests -DSUITES_INC='"float_suites.inc"' $(filter %.c %.o %.a,$^) $(PKG_LIBS) $(CHECK_LIBS) -o $@
$(BUILD)/tests/run_double: tests/runner.c tests/test_util.c $(TEST_DBL:%.c=$(BUILD)/d/%.o) $(BUILD)/f/version.o $(BUILD)/libmemlab_double.a $(BUILD)/tests/double_suites.inc
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DMEMLAB_DOUBLE -I$(BUILD)/tests -DSUITES_INC='"double_suites.inc"' $(filter %.c %.o %.a,$^) $(PKG_LIBS) $(CHECK_LIBS) -o $@

check: $(BUILD)/memlab memlab $(BUILD)/tests/run_double $(BUILD)/tests/run_float
	MEMLAB_BIN=$(abspath $(BUILD)/memlab) $(BUILD)/tests/run_double
	MEMLAB_BIN=$(abspath $(BUILD)/memlab) $(BUILD)/tests/run_float

asan:
	$(MAKE) BUILD=build/asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" check

demo: memlab
	scripts/demo.sh

figures: memlab
	scripts/figures.sh

BENCH_SRC := $(sort $(wildcard benchmarks/*.c))
BENCH_BIN := $(BENCH_SRC:benchmarks/%.c=$(BUILD)/bench/%)
$(BUILD)/bench/%: benchmarks/%.c $(BUILD)/libmemlab.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libmemlab.a $(PKG_LIBS) -o $@

# `memlab bench` (experiments/bench.c): the sgemm ceiling, training and generation throughput and MFU
# of gpt and mosaic, and the same models in PyTorch (benchmarks/peers/, Debian's python3-torch),
# measured in one run: benchmarks/results.csv and docs/bench.md's table benchmarks/results.md. 10-20
# minutes on a quiet 2-core machine; BENCH_ARGS adds options (e.g. BENCH_ARGS="--preset smoke").
# The kernel micro-benchmarks (benchmarks/*.c: sgemm, attention) are built beside it.
BENCH_ARGS ?=
bench: memlab $(BENCH_BIN)
	scripts/deps.sh --torch
	$(BUILD)/memlab bench --torch on --out-dir $(BUILD)/bench -o benchmarks/results.csv \
	    --markdown benchmarks/results.md $(BENCH_ARGS)
	scripts/readme_bench.sh benchmarks/results.md docs/bench.md

# Regenerates the committed test fixtures from the PyTorch twins (needs Debian's python3-torch).
fixtures:
	scripts/deps.sh --torch
	cd tests/reference && for twin in twin_*.py; do /usr/bin/python3 $$twin || exit 1; done

clean:
	rm -rf build memlab

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
