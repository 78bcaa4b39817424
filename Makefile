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

.PHONY: all check check-cuda cuda-tests demo figures bench asan clean deps fixtures
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

# ---- CUDA (optional) ---------------------------------------------------------------------------
# Built when nvcc is found (on PATH, else /usr/local/cuda/bin/nvcc; NVCC= forces it off). Without
# it memlab builds as before and `--device cuda` says in one line that it was built without CUDA.
# The CUDA objects go into the float library only: the double build is for gradient checks.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
# Hopper (sm_90) and Ampere (sm_80, whose code also runs on the sm_86/sm_89 cards: A10, L4, RTX 30
# and 40), plus PTX for newer cards. Each target costs a full device compile: all five of sm_75..90
# took 15 minutes on the loaded 2-core box, too much for `make check`. CUDA_ARCH overrides, e.g.
# "-arch=sm_90" (one target: the local edit loop) or "-gencode arch=compute_75,code=sm_75 ..." for a
# Turing T4.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
CU_SRC   := $(sort $(wildcard lib/cuda/*.cu))
# The toolkit's root is asked of nvcc itself (its dry run prints TOP=): a wrapper script such as
# /usr/local/bin/nvcc that execs the real one does not sit next to lib64. A toolkit without the
# runtime libraries (compiler only) builds without CUDA, saying so.
ifneq ($(NVCC),)
CUDA_HOME  ?= $(realpath $(patsubst TOP=%,%,$(filter TOP=%,$(shell $(NVCC) --dryrun -c -x cu /dev/null -o /dev/null 2>&1))))
ifeq ($(wildcard $(CUDA_HOME)/lib64/libcudart.so),)
$(info CUDA off: nvcc at $(NVCC) but no libcudart.so under '$(CUDA_HOME)/lib64' (CUDA_HOME= names the toolkit))
NVCC :=
endif
endif
ifneq ($(NVCC),)
CUDA_DEFS  := -DMEMLAB_CUDA -I$(CUDA_HOME)/include
CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
CU_OBJ     := $(CU_SRC:%.cu=$(BUILD)/f/%.o)
NVCCFLAGS  ?= -O3 -g -lineinfo -std=c++17 $(CUDA_ARCH) -Xcompiler -Wall,-Wno-unused-parameter
endif

# ---- sources ----------------------------------------------------------------------------------
LIB_SRC  := $(sort $(wildcard lib/*/*.c))
EXP_SRC  := $(sort $(wildcard experiments/*.c))
TEST_SRC := $(sort $(wildcard tests/check_*.c))
# Gradient-check suites (check_grad_*.c) build against the double-precision core.
TEST_DBL := $(filter tests/check_grad_%,$(TEST_SRC))
TEST_FLT := $(filter-out $(TEST_DBL),$(TEST_SRC))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/f/%.o) $(CU_OBJ)
LIBD_OBJ := $(LIB_SRC:%.c=$(BUILD)/d/%.o)
EXP_OBJ  := $(EXP_SRC:%.c=$(BUILD)/f/%.o)

# The core's exp, erf and softmax loops (lib/core/fastexp.h) are written to vectorise, but GCC keeps
# their selects (clamps, the sign of erf's argument) as branches unless it may assume that floating-
# point operations do not trap, and then its -O2 "very cheap" cost model refuses the if-converted
# loop: on every target without AVX-512's masked instructions (-march=x86-64-v3, an AVX2 CPU's
# native) those loops ran one element at a time: GELU was 39% of a gpt step on the Xeon host at 2
# threads, the CPU attention's forward 2.2x slower (benchmarks/NOTES.md §19). Nothing memlab does
# reads floating-point exception flags, and rounding, infinities and NaNs are unchanged (this is not
# -ffast-math); the dynamic cost model is -O3's. -fno-math-errno: sqrt is then the instruction alone,
# without the errno branch that kept GCC from vectorising any loop calling it (AdamW's update ran one
# element at a time: "outside the tape" about 49 -> 20 ms a step of the 512x4x512 gpt at 2 threads,
# 69 -> 41 of the mosaic; benchmarks/NOTES.md §28). Nothing memlab does reads errno after a math
# function, and IEEE sqrt and division round the same in vector and scalar form.
VECFLAGS := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1)),,-fno-trapping-math -fno-math-errno -fvect-cost-model=dynamic)
ALL_CFLAGS = $(CFLAGS) $(VECFLAGS) $(SAN) $(CPPFLAGS_BASE) $(CUDA_DEFS) $(PKG_CFLAGS)

# The flags each kind of object was compiled with, rewritten only when they change, so that a
# changed CFLAGS, OPT or VECFLAGS (or NVCCFLAGS) recompiles what they apply to instead of linking
# objects built the old way. $(call write_if_changed,TEXT) is such a rule's recipe.
write_if_changed = @mkdir -p $(dir $@) && { echo '$(1)' | cmp -s - $@ || echo '$(1)' > $@; }
$(BUILD)/cflags.txt: FORCE
	$(call write_if_changed,$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS))
$(BUILD)/nvccflags.txt: FORCE
	$(call write_if_changed,$(NVCC) $(NVCCFLAGS) $(CUDA_DEFS))

$(BUILD)/f/%.o: %.c $(BUILD)/config.mk $(BUILD)/cflags.txt
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/f/%.o: %.cu $(BUILD)/config.mk $(BUILD)/nvccflags.txt
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -D_GNU_SOURCE -Ilib $(CUDA_DEFS) -MMD -MP -c $< -o $@
$(BUILD)/d/%.o: %.c $(BUILD)/config.mk $(BUILD)/cflags.txt
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
	$(CC) $(CFLAGS) $(SAN) -fopenmp $^ $(PKG_LIBS) $(CUDA_LIBS) -o $@

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
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/tests -DSUITES_INC='"float_suites.inc"' $(filter %.c %.o %.a,$^) $(PKG_LIBS) $(CUDA_LIBS) $(CHECK_LIBS) -o $@
$(BUILD)/tests/run_double: tests/runner.c tests/test_util.c $(TEST_DBL:%.c=$(BUILD)/d/%.o) $(BUILD)/f/version.o $(BUILD)/libmemlab_double.a $(BUILD)/tests/double_suites.inc
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DMEMLAB_DOUBLE -I$(BUILD)/tests -DSUITES_INC='"double_suites.inc"' $(filter %.c %.o %.a,$^) $(PKG_LIBS) $(CHECK_LIBS) -o $@

check: $(BUILD)/memlab memlab $(BUILD)/tests/run_double $(BUILD)/tests/run_float $(if $(NVCC),cuda-tests)
	MEMLAB_BIN=$(abspath $(BUILD)/memlab) $(BUILD)/tests/run_double
	MEMLAB_BIN=$(abspath $(BUILD)/memlab) $(BUILD)/tests/run_float
	@$(MAKE) --no-print-directory pool-tsan
	@$(MAKE) --no-print-directory fuzz-check

# The core's thread pool under ThreadSanitizer (tests/tsan/pool_stress.c, docs/threads.md): the pool
# alone, without OpenBLAS or OpenMP, whose own threads TSan cannot follow. Skipped, saying so, where
# the compiler has no TSan runtime.
$(BUILD)/tsan/pool_stress: tests/tsan/pool_stress.c lib/core/pool.c lib/core/pool.h lib/core/error.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=c11 -Wall -Wextra -D_GNU_SOURCE -Ilib -fsanitize=thread $(filter %.c,$^) -lpthread -lm -o $@
.PHONY: pool-tsan
pool-tsan:
	@if printf 'int main(void){return 0;}\n' | $(CC) -fsanitize=thread -x c - -o /dev/null 2>/dev/null; then \
	   $(MAKE) --no-print-directory $(BUILD)/tsan/pool_stress || exit 1; \
	   out=$$($(BUILD)/tsan/pool_stress 2>&1); rc=$$?; \
	   if [ $$rc -eq 0 ]; then echo "$$out"; \
	   elif echo "$$out" | grep -q "unexpected memory mapping"; then \
	     echo "pool-tsan: skipped: this kernel's address-space layout defeats ThreadSanitizer"; \
	   else echo "$$out"; exit 1; fi; \
	 else echo "pool-tsan: skipped: $(CC) has no ThreadSanitizer runtime (Debian: libtsan2)"; fi

# ---- fuzzing: libFuzzer harnesses of every parser of untrusted input (docs/fuzzing.md) -----------
# `make fuzz` builds tests/fuzz/fuzz_NAME.c against the library compiled by clang with ASan and
# UBSan in build/fuzz, then runs each harness FUZZ_SECONDS seconds (FUZZ_JOBS at a time).
# `make check` runs each for 2 seconds when clang can build libFuzzer targets, else says so.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/bin/fuzz_%)
FUZZ_SUPPORT := tests/fuzz/util.c tests/fuzz/bpe_check.c
# The readers are host code: built without CUDA and MPI, whatever this machine has.
FUZZ_MAKE     = $(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT=-O1 NVCC= MPI=off \
                SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)"

# The readers under test and what they call, compiled by clang through the object rules above (a
# sub-make with BUILD=$(FUZZ_BUILD) keeps them apart from gcc's), in one archive.
FUZZ_LIB_SRC := lib/core/error.c lib/core/device.c lib/core/params.c lib/core/tensor.c lib/core/rng.c $(filter-out lib/io/args.c,$(wildcard lib/io/*.c)) \
                lib/data/bpe.c lib/data/stories_read.c experiments/regbench_grid.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/f/%.o)
fuzz-objects: $(FUZZ_LIB_OBJ)
	@:
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_BUILD)/libreaders.a: FORCE
	+@$(FUZZ_MAKE) fuzz-objects
	@if [ ! -e $@ ] || [ -n "$$(find $(FUZZ_LIB_OBJ) -newer $@)" ]; then rm -f $@; ar rcs $@ $(FUZZ_LIB_OBJ); fi
endif
$(FUZZ_BUILD)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SUPPORT) $(wildcard tests/fuzz/*.h) $(FUZZ_BUILD)/libreaders.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Ilib -Iexperiments -Itests/fuzz \
	    -fsanitize=fuzzer $(FUZZ_SAN) $(filter %.c %.o %.a,$^) -lyaml -lz -lm -o $@

.PHONY: fuzz fuzz-build fuzz-check fuzz-objects
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) scripts/fuzz.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS) $(FUZZ_NAMES)
fuzz-check:
	@if FUZZ_CC=$(FUZZ_CC) scripts/fuzz.sh --available; then $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=2; \
	 else echo "fuzz: skipped: $(FUZZ_CC) cannot build libFuzzer targets (Debian: apt-get install clang libclang-rt-14-dev)"; fi

# ---- GPU tests: every tests/cuda/*.c or *.cu is its own program, linked with the library (its
# lib/cuda objects included) and the harness (tests/cuda/harness*.c, harness*.cu). Each
# prints one line per check and exits non-zero on a failure. `make check` only builds them (CI has
# no GPU); `make check-cuda` builds and runs them (CUDA_RUNNER=compute-sanitizer runs each under
# the sanitizer). On the device machine: scripts/device_check_cuda.sh (docs/gpu.md).
CUDA_HARNESS  := $(sort $(wildcard tests/cuda/harness*.c tests/cuda/harness*.cu))
CUDA_TEST_SRC := $(filter-out $(CUDA_HARNESS),$(sort $(wildcard tests/cuda/*.c tests/cuda/*.cu)))
CUDA_HARNESS_OBJ := $(patsubst %,$(BUILD)/f/%.o,$(basename $(CUDA_HARNESS)))
CUDA_TEST_BIN := $(patsubst tests/cuda/%,$(BUILD)/cuda-tests/%,$(basename $(CUDA_TEST_SRC)))
BENCH_CUDA_BIN := $(if $(NVCC),$(patsubst benchmarks/%.c,$(BUILD)/bench/%,$(wildcard benchmarks/*_cuda.c)))
# benchmarks/*_cuda.cu (the attention and sequence kernels alone) link the library the same way.
BENCH_CUDA_BIN += $(if $(NVCC),$(patsubst benchmarks/%.cu,$(BUILD)/bench/%,$(wildcard benchmarks/*_cuda.cu)))
# A GPU program from its objects and the library (the CUDA objects are in it).
CUDA_LINK = mkdir -p $(dir $@) && $(CC) $(CFLAGS) $(SAN) -fopenmp $^ $(PKG_LIBS) $(CUDA_LIBS) -o $@
$(BUILD)/bench/%_cuda: $(BUILD)/f/benchmarks/%_cuda.o $(BUILD)/f/version.o $(BUILD)/libmemlab.a
	$(CUDA_LINK)
$(BUILD)/cuda-tests/%: $(BUILD)/f/tests/cuda/%.o $(CUDA_HARNESS_OBJ) $(BUILD)/f/version.o $(BUILD)/libmemlab.a
	$(CUDA_LINK)
ifneq ($(NVCC),)
cuda-tests: $(CUDA_TEST_BIN) $(BENCH_CUDA_BIN)
check-cuda: cuda-tests
	CUDA_RUNNER="$(CUDA_RUNNER)" scripts/check_cuda.sh $(BUILD)/cuda-tests
else
cuda-tests check-cuda:
	@echo "make $@: no nvcc found (NVCC=/path/to/nvcc to name one); nothing to do" >&2; exit 1
endif

asan:
	$(MAKE) BUILD=build/asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" check

demo: memlab
	scripts/demo.sh

figures: memlab
	scripts/figures.sh

# benchmarks/*_cuda.c need a GPU and a CUDA build: built with `make cuda-tests` when nvcc exists.
BENCH_SRC := $(filter-out %_cuda.c,$(sort $(wildcard benchmarks/*.c)))
BENCH_BIN := $(BENCH_SRC:benchmarks/%.c=$(BUILD)/bench/%)
$(BUILD)/bench/%: benchmarks/%.c $(BUILD)/libmemlab.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libmemlab.a $(PKG_LIBS) $(CUDA_LIBS) -o $@

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
