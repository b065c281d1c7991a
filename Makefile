# qlens - GNU Makefile
#
#   make                 build build/qlens, build/libqlens.a and build/libqlens.so
#   make test            build and run every test (ends with "N passed, N failed")
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (objects in build/san)
#   make fuzz            run every libFuzzer target for FUZZ_SECONDS each (clang; build/fuzz)
#   make bench           benchmarks (not tests): see bench/README.md
#   make demo            the main job on a real model: see README.md
#   make install PREFIX=/usr/local
#   make PORTABLE=1      generic x86-64 build instead of -march=native
#   make CC=clang        any C11 compiler
#   make MPI=1           build/mpi/qlens, whose sweep runs under mpirun (Open MPI's mpicc)

CC      ?= cc
PREFIX  ?= /usr/local
SHARED  ?= ../shared
PYTHON  ?= python3
JOBS    ?= 2

BUILD := build
OPT   := -O2
ARCH  := -march=native
ifeq ($(PORTABLE),1)
  BUILD := build/portable
  ARCH  := -march=x86-64 -mtune=generic
endif
# SANITIZE=1: AddressSanitizer + UBSan (gcc's or clang's, nothing to install with gcc).
# -O2 as shipped (UB that only optimisation exposes is the interesting kind), and
# a quarter faster than -O1 here. A sanitized model run is still 6-8 times slower
# than a plain one, so `make test SANITIZE=1` runs the slow golden tests light
# (QLENS_TEST_LIGHT=1, tests/test.h): each per-architecture golden test (perplexity,
# KL divergence, quantize against llama.cpp's numbers) checks every fourth of its
# configurations, shifted by architecture, so that every cache type and file type
# still runs once under the sanitizers - on one architecture instead of four - and
# the two real models evaluate one chunk of 128 tokens instead of two of 512. The
# sanitizers look for memory and undefined-behaviour errors, which live in code
# paths; the light run keeps every path (each architecture, cache type, file type,
# reader and writer) and drops repetitions of it, and the plain `make test` checks
# every number. Everything else - unit, reader, bad-input, fuzz-regression,
# determinism and end-to-end tests - runs in full.
ifeq ($(SANITIZE),1)
  BUILD := build/san
  OPT   := -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  TEST_LIGHT := 1
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS += -D_GNU_SOURCE -Iinclude
CFLAGS   ?=
# -ffp-contract=off: a fused multiply-add rounds once where ggml rounds twice, which
# changes quantized bytes; every float expression is evaluated as written.
CFLAGS   += -std=c11 $(OPT) $(ARCH) $(WARN) -ffp-contract=off -pthread -MMD -MP
LDFLAGS  += $(filter -fsanitize=%,$(OPT)) -pthread
LDLIBS   += -lm -ldl

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
# fuzz_targets.c is linked into the tests too: they replay the fuzz corpora through it
TEST_SRC := $(wildcard tests/*.c) tests/fuzz/fuzz_targets.c

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

LIB   := $(BUILD)/libqlens.a
BIN   := $(BUILD)/qlens
TESTS := $(BUILD)/qlens-test

# MPI=1: `mpirun -n N qlens sweep` (src/cli/cmd_sweep.c under QL_MPI). Only the command
# line is compiled against mpi.h and only the binary links libmpi: the library, its tests
# and the default build stay MPI-free (and mpicc is not even asked for its flags). Its
# objects live apart, in $(BUILD)/mpi, so that the plain build/qlens and it coexist.
MPICC        ?= mpicc
MPI_CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/mpi/obj/%.o)
MPI_BIN      := $(BUILD)/mpi/qlens
MPI_CPPFLAGS  = -DQL_MPI $(patsubst -I%,-isystem %,$(shell $(MPICC) --showme:compile))
MPI_LDLIBS    = $(shell $(MPICC) --showme:link)
ifeq ($(MPI),1)
  BIN := $(MPI_BIN)
endif

# The libraries other programs link (and `make install` installs): position-independent
# objects for a generic x86-64 by default, since the kernels' SIMD paths are chosen at
# compile time and an installed library may run on another machine (LIB_ARCH=-march=native
# builds them for this one), and hidden visibility, so that only the qlens_ functions are
# exported: the internal gguf_* and tok_* names would clash with ggml's. The shared library
# is linked from them; the static one is the same objects partially linked into one, with
# every hidden symbol made local (objcopy --localize-hidden), for the same reason.
VERSION  := $(shell sed -n 's/.*QLENS_VERSION_STRING "\(.*\)"/\1/p' include/qlens.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
LIB_ARCH ?= -march=x86-64 -mtune=generic
PIC_DIR  := $(BUILD)/pic
PIC_OBJ  := $(LIB_SRC:%.c=$(PIC_DIR)/obj/%.o)
SHLIB    := $(BUILD)/libqlens.so
PIC_LIB  := $(PIC_DIR)/libqlens.a
PIC_CFLAGS = $(filter-out $(ARCH),$(CFLAGS)) $(LIB_ARCH) -fPIC -fvisibility=hidden

SYNTH_ARCHS  := llama qwen2 qwen3 gemma3
SYNTH_MODELS := $(SYNTH_ARCHS:%=build/synth/synth-%.gguf)
# models of the project's own tests, made by its copy of the synthetic tool (tests/tools) and
# checked against tests/data/synth.sha256
TEST_SYNTH   := build/synth/synth-gemma3-270m.gguf build/synth/synth-qwen3moe.gguf
# hybrid (Gated DeltaNet + attention) and MoE models, checked against golden/hybrid
HYBRID_ARCHS  := qwen35 qwen35moe
HYBRID_MODELS := $(HYBRID_ARCHS:%=build/synth/synth-%.gguf)

.PHONY: all test unit-test bench demo install uninstall clean synth models format fuzz valgrind-bin \
        mpi-bin
.DEFAULT_GOAL := all

all: $(BIN) $(LIB) $(SHLIB) $(PIC_LIB)

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(PIC_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (pic)")
	$(Q)$(CC) $(CPPFLAGS) $(PIC_CFLAGS) -c $< -o $@

$(SHLIB): $(PIC_OBJ) src/api/libqlens.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libqlens.so.$(SOMAJOR) -Wl,--version-script=src/api/libqlens.map \
	    $(LDFLAGS) -o $@ $(PIC_OBJ) $(LDLIBS)

$(PIC_LIB): $(PIC_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(CC) -r -nostdlib -o $(PIC_DIR)/qlens-all.o $(PIC_OBJ)
	$(Q)objcopy --localize-hidden $(PIC_DIR)/qlens-all.o
	@rm -f $@
	$(Q)ar rcs $@ $(PIC_DIR)/qlens-all.o

$(BUILD)/qlens: $(CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

# the MPI headers are system headers: -Werror is for qlens's code, not theirs
$(BUILD)/mpi/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (mpi)")
	$(Q)$(CC) $(CPPFLAGS) $(MPI_CPPFLAGS) $(CFLAGS) -c $< -o $@

$(MPI_BIN): $(MPI_CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(MPI_CLI_OBJ) $(LIB) $(LDLIBS) $(MPI_LDLIBS)

# Tests register themselves with QL_TEST(name); the registry is generated.
$(BUILD)/tests/registry.h: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -h '^QL_TEST(' $(TEST_SRC) | sed 's/^QL_TEST(\([A-Za-z0-9_]*\)).*/X(\1)/' > $@.tmp
	@mv $@.tmp $@

$(BUILD)/obj/tests/main.o: $(BUILD)/tests/registry.h
$(BUILD)/obj/tests/%.o: CPPFLAGS += -I$(BUILD)/tests -Isrc

$(TESTS): $(TEST_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS)

# Synthetic models the golden numbers were measured on (pure Python, ~30 s each),
# cached in build/synth and checked against the published sha256.
synth: $(SYNTH_MODELS) $(HYBRID_MODELS) $(TEST_SYNTH)

build/synth/synth-gemma3-270m.gguf: SYNTH_ARGS = gemma3 $(SHARED)/golden/tokenizer/ggml-vocab-llama-spm.gguf $@.tmp --shape gemma3-270m
build/synth/synth-qwen3moe.gguf: SYNTH_ARGS = qwen3moe $(SHARED)/golden/tokenizer/ggml-vocab-gpt-2.gguf $@.tmp
$(TEST_SYNTH): tests/tools/synth_gguf.py tests/data/synth.sha256
	@mkdir -p build/synth
	$(PYTHON) tests/tools/synth_gguf.py $(SYNTH_ARGS)
	@name=$(notdir $@); expected=$$(grep " $$name$$" tests/data/synth.sha256 | cut -d' ' -f1); \
	 actual=$$(sha256sum $@.tmp | cut -d' ' -f1); \
	 if [ "$$expected" != "$$actual" ]; then \
	   echo "qlens: error: $$name sha256 $$actual differs from tests/data/synth.sha256"; \
	   rm -f $@.tmp; exit 1; fi
	@mv $@.tmp $@

# the hybrid models' sha256 live beside their golden numbers in golden/hybrid
$(HYBRID_MODELS): GOLDEN_SHA = $(SHARED)/golden/hybrid/models.sha256
build/synth/synth-gemma3.gguf: VOCAB := ggml-vocab-llama-spm.gguf
build/synth/synth-%.gguf: GOLDEN_SHA ?= $(SHARED)/golden/synth/models.sha256
build/synth/synth-%.gguf: VOCAB ?= ggml-vocab-gpt-2.gguf
build/synth/synth-%.gguf:
	@mkdir -p build/synth
	$(PYTHON) $(SHARED)/tools/synth_gguf.py $* $(SHARED)/golden/tokenizer/$(VOCAB) $@.tmp
	@expected=$$(grep " synth-$*.gguf$$" $(GOLDEN_SHA) | cut -d' ' -f1); \
	 actual=$$(sha256sum $@.tmp | cut -d' ' -f1); \
	 if [ "$$expected" != "$$actual" ]; then \
	   echo "qlens: error: synth-$*.gguf sha256 $$actual differs from the golden $$expected"; \
	   rm -f $@.tmp; exit 1; fi
	@mv $@.tmp $@

models:
	scripts/fetch-models.sh

# the installed libraries, which public_api_installed_library_links installs and links
# against, come from the plain build; a sanitized run builds them there when it needs them
INSTALL_LIBS := $(if $(filter 1,$(SANITIZE)),,$(SHLIB) $(PIC_LIB))

unit-test: $(BIN) $(TESTS) $(INSTALL_LIBS) valgrind-bin mpi-bin
	$(TEST_ENV) $(TESTS) -j $(JOBS) $(T)

test: $(BIN) $(TESTS) $(INSTALL_LIBS) synth models valgrind-bin mpi-bin
	$(TEST_ENV) $(TESTS) -j $(JOBS) $(T)

# valgrind emulates no AVX-512, so it cannot run a -march=native build on a CPU that
# has it: tests/test_valgrind.c runs the portable build, made here when valgrind is there.
VALGRIND_BIN := build/portable/qlens
valgrind-bin:
	@if command -v valgrind >/dev/null 2>&1; then \
	   $(MAKE) --no-print-directory PORTABLE=1 SANITIZE= $(VALGRIND_BIN); fi

# tests/test_sweep_shard.c runs `mpirun -n 2` on the MPI build, made here when Open MPI is
# there (skipped otherwise). The plain build's, under SANITIZE=1 too: what it tests is the
# ranks' split and merge, and libmpi's own allocations would trip LeakSanitizer.
MPI_TEST_BIN := build/mpi/qlens
mpi-bin:
	@if command -v $(MPICC) >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then \
	   $(MAKE) --no-print-directory PORTABLE= SANITIZE= $(MPI_TEST_BIN); fi

TEST_ENV = QLENS_BIN=$(BIN) QLENS_SHARED=$(SHARED) QLENS_VALGRIND_BIN=$(VALGRIND_BIN) \
           QLENS_MPI_BIN=$(MPI_TEST_BIN) \
           $(if $(TEST_LIGHT),QLENS_TEST_LIGHT=1)

bench: $(BIN) synth models
	SHARED=$(SHARED) bench/run.sh

# Fuzzing (libFuzzer, so clang): one binary per target in tests/fuzz/fuzz_targets.h,
# the library instrumented for coverage, AddressSanitizer and UBSan. Each target
# starts from its seed corpus in tests/fuzz/corpus/<target>/ (read-only; new inputs
# go to build/fuzz/corpus/<target>/) and runs FUZZ_SECONDS; an input that crashes,
# leaks, trips a sanitizer or runs longer than 10 s is written to
# build/fuzz/crashes/<target>/ and fails the run. Targets run one after the other,
# or side by side with make -j. Replaying an input: build/fuzz/fuzz-<target> FILE.
# libFuzzer's timeout is wall time: on a busy machine, where a nice'd fuzzer waits
# for the CPU, raise it (FUZZ_ARGS=-timeout=300) or it reports inputs that are not slow.
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="gguf journal"
#   nice -n 19 make -j7 fuzz FUZZ_SECONDS=3600 FUZZ_ARGS=-timeout=300
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= gguf tok_bpe tok_spm pretok refstore kld_llama journal regex plan_csv
FUZZ_ARGS    ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c11 -O1 -g -fno-omit-frame-pointer $(ARCH) $(WARN) -ffp-contract=off -pthread -MMD -MP
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/tests/fuzz/fuzz_targets.o

# kept between runs (they are only intermediate to the pattern rule below)
.SECONDARY: $(FUZZ_LIB_OBJ)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (fuzz)")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/fuzz-%: tests/fuzz/fuzz_main.c $(FUZZ_LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -DQL_FUZZ_TARGET=ql_fuzz_$* \
	    tests/fuzz/fuzz_main.c $(FUZZ_LIB_OBJ) -o $@ -lm -ldl

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-run-%: build/fuzz/fuzz-%
	@mkdir -p build/fuzz/corpus/$* build/fuzz/crashes/$*
	@echo "fuzz: $* for $(FUZZ_SECONDS) s (log: build/fuzz/$*.log)"
	@QLENS_SHARED=$(SHARED) build/fuzz/fuzz-$* build/fuzz/corpus/$* tests/fuzz/corpus/$* \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/crashes/$*/ $(FUZZ_ARGS) > build/fuzz/$*.log 2>&1 \
	  || { tail -n 40 build/fuzz/$*.log; echo "fuzz: $* FAILED: the input is in build/fuzz/crashes/$*/"; exit 1; }
	@echo "fuzz: $* passed: $$(grep -h '^stat::number_of_executed_units' build/fuzz/$*.log | tr -dc 0-9) inputs"

# The main job on a real model: three weight quants of SmolLM2 x four KV-cache
# configurations at -c 2048, the table, a plan for a small budget, report.html.
DEMO_DIR    ?= build/demo
DEMO_CHUNKS ?= 3
DEMO_TEXT   ?= $(SHARED)/data/wikitext-2-raw/wiki.test.raw
demo: $(BIN) models
	@test -f $(DEMO_TEXT) || { echo "qlens: error: $(DEMO_TEXT): no such file; the demo evaluates \
	WikiText-2's raw test split (wiki.test.raw): give SHARED=DIR or DEMO_TEXT=FILE"; exit 1; }
	$(BIN) sweep --ref models/SmolLM2-135M-Instruct.Q4_1.gguf \
	    --weights Q8_0,Q4_K_M,Q3_K_M --cache f16/f16,q8_0/q8_0,q5_1/q5_1,q4_0/q4_0 \
	    -f $(DEMO_TEXT) -c 2048 --chunks $(DEMO_CHUNKS) \
	    --target-ctx 8192 --budget 320MiB --out $(DEMO_DIR)
	@echo
	$(BIN) plan --sweep $(DEMO_DIR) --budget 320MiB --ctx 8192
	@echo
	@echo "report: $(DEMO_DIR)/report.html"

install: $(BIN) $(SHLIB) $(PIC_LIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/qlens
	install -m 644 include/qlens.h $(DESTDIR)$(PREFIX)/include/qlens.h
	install -m 644 $(PIC_LIB) $(DESTDIR)$(PREFIX)/lib/libqlens.a
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/libqlens.so.$(VERSION)
	ln -sf libqlens.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libqlens.so.$(SOMAJOR)
	ln -sf libqlens.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libqlens.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|' \
	    qlens.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qlens.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/qlens $(DESTDIR)$(PREFIX)/include/qlens.h \
	      $(DESTDIR)$(PREFIX)/lib/libqlens.a $(DESTDIR)$(PREFIX)/lib/libqlens.so \
	      $(DESTDIR)$(PREFIX)/lib/libqlens.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libqlens.so.$(VERSION) \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/qlens.pc

# generated files keep their generator's layout
FORMAT_SKIP = src/tokenizer/unicode_tables.c tests/tokenizer_pretok_cases.h
format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -vxF $(addprefix -e ,$(FORMAT_SKIP)))

clean:
	rm -rf build/obj build/mpi build/san build/portable build/fuzz build/tests build/test-tmp build/qlens build/libqlens.a build/qlens-test \
	       build/pic build/libqlens.so

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(MPI_CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d)
