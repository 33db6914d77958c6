# tollgate: `make` builds build/tollgate; see README.md for the targets.
#
#   make                      build (installs missing Debian packages first)
#   make test                 unit tests (cmocka) + end-to-end tests (pytest)
#   make SANITIZE=address,undefined test
#   make run [ARGS='...']     build, then `tollgate up ARGS` (e.g. ARGS='--listen 127.0.0.1:17671')
#   make bench | fuzz | format-check | clean

CC        ?= cc
SANITIZE  ?=
# sanitizer builds live in their own tree, so both can coexist
BUILD     := $(if $(SANITIZE),build/sanitize,build)
OPT       ?= -O2
PY        := /usr/bin/python3
FUZZ_TIME ?= 20

PKGS      := jansson libcrypto libssl yaml-0.1 libuv libcurl rdkafka libzstd zlib libseccomp libbpf
DEPS_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEPS_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread

CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -g $(OPT) \
           -I. -I$(BUILD) $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(wildcard ocsf/*.c collector/*.c conf/*.c gateway/*.c policy/*.c proxy/*.c exporters/*.c exporters/*/*.c report/*.c) \
            $(filter-out cli/main.c,$(wildcard cli/*.c))
GEN_SRC  := $(BUILD)/gen/ocsf_tables.c $(BUILD)/gen/providers.c \
            $(BUILD)/gen/ocsf_schema_tables.c $(BUILD)/gen/ident_bpf_obj.c
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ocsf_tables.o \
            $(BUILD)/obj/gen/providers.o \
            $(BUILD)/obj/gen/ocsf_schema_tables.o $(BUILD)/obj/gen/ident_bpf_obj.o
# every bundled OCSF version, oldest first (schemas/ocsf/README.md)
OCSF_SCHEMAS ?= $(sort $(wildcard schemas/ocsf/1.*.json))
MAIN_OBJ := $(BUILD)/obj/cli/main.o
BIN      := $(BUILD)/tollgate
LIB      := $(BUILD)/libtollgate.a

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# helper programs the tests and benchmarks run (e.g. the Kafka mock cluster)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps tools test unit e2e run bench soak fuzz format format-check clean
all: $(BIN)

deps:
	@scripts/deps.sh build

# Objects depend on the flags they were built with.
$(BUILD)/.cflags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

$(BUILD)/gen/ocsf_tables.c: schemas/ocsf-1.7.0.json schemas/gen_tables.py | deps
	@mkdir -p $(dir $@)
	$(PY) schemas/gen_tables.py $< > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/ocsf_schema_tables.c: $(OCSF_SCHEMAS) schemas/gen_schema.py | deps
	@mkdir -p $(dir $@)
	$(PY) schemas/gen_schema.py $(OCSF_SCHEMAS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/providers.c: $(wildcard providers/*.yaml) scripts/embed.py | deps
	@mkdir -p $(dir $@)
	$(PY) scripts/embed.py gw__providers_embedded $(wildcard providers/*.yaml) > $@.tmp && mv $@.tmp $@

# the BPF program of proxy/ident_bpf.c (CO-RE: no vmlinux.h), embedded as bytes
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I/usr/include/$(shell $(CC) -print-multiarch 2>/dev/null)
$(BUILD)/bpf/ident_iter.bpf.o: proxy/bpf/ident_iter.bpf.c | deps
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/gen/ident_bpf_obj.c: $(BUILD)/bpf/ident_iter.bpf.o scripts/embed.py | deps
	@mkdir -p $(dir $@)
	$(PY) scripts/embed.py px__bpf_embedded $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/.cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c $(BUILD)/.cflags | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

# ---- tests ------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB) $(BUILD)/.cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(shell pkg-config --cflags cmocka) -MMD -MP \
	    -o $@ $< $(LIB) $(LDFLAGS) $(DEPS_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tools/%: tests/tools/%.c $(LIB) $(BUILD)/.cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(DEPS_LIBS)

tools: $(TOOL_BIN)

test: all tools
	@scripts/deps.sh test
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BIN) $(TOOL_BIN)
	TOLLGATE_BIN=$(abspath $(BIN)) TOLLGATE_TOOLS=$(abspath $(BUILD)/tools) $(PY) -m pytest -q -p no:cacheprovider --durations=10 tests/e2e

# ---- run --------------------------------------------------------------------
run: all
	$(BIN) up $(ARGS)

# ---- bench ------------------------------------------------------------------
$(BUILD)/bench/%: bench/%.c $(LIB) $(BUILD)/.cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(DEPS_LIBS)

BENCH_C := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/bench_*.c))
BENCH_LOG := $(BUILD)/bench/bench.log
bench: $(BENCH_C) $(BIN) $(TOOL_BIN)
	@scripts/deps.sh bench
	@rm -f $(BENCH_LOG)
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_ocsf
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_policy
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_downgrade
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_gateway.py --build $(BUILD)
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_proxy.py --build $(BUILD)
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_l7.py --build $(BUILD)
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_file_sink
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_hec.py --build $(BUILD)
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_kafka 500000 10000 2
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_kafka_peer.py --build $(BUILD)
	bench/run.sh $(BENCH_LOG) $(BUILD)/bench/bench_report 2000000 4
	bench/run.sh $(BENCH_LOG) $(PY) bench/bench_export_rss.py --build $(BUILD) --seconds 60
	@$(PY) bench/goals.py $(BENCH_LOG)

# ---- soak (not a test: 10 minutes of load, kill -9 and restarts; SOAK_SECONDS) ----
SOAK_SECONDS ?= 600
soak: $(BIN)
	$(PY) bench/soak.py --build $(BUILD) --seconds $(SOAK_SECONDS)

# ---- fuzz (clang + libFuzzer; its own build tree) ---------------------------
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
fuzz: all
	@scripts/deps.sh fuzz
	@mkdir -p $(BUILD)/fuzz
	@set -e; failed=; for t in $(FUZZ_TARGETS); do \
	    clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -I$(BUILD) $(DEPS_CFLAGS) \
	        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	        -o $(BUILD)/fuzz/$$t fuzz/$$t.c $(LIB_SRC) $(GEN_SRC) $(DEPS_LIBS); \
	    corpus=$(BUILD)/fuzz/corpus-$$t; mkdir -p $$corpus; \
	    $(BIN) ocsf samples | split -l 1 - $$corpus/sample-; \
	    cp fuzz/seeds/* fuzz/crashes/* $$corpus/ 2>/dev/null || true; \
	    crashes=$(BUILD)/fuzz/crashes-$$t; mkdir -p $$crashes; \
	    echo "== fuzzing $$t for $(FUZZ_TIME)s (log: $(BUILD)/fuzz/$$t.log)"; \
	    $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 \
	        -print_final_stats=1 -artifact_prefix=$$crashes/ $$corpus \
	        > $(BUILD)/fuzz/$$t.log 2>&1 || failed="$$failed $$t"; \
	    grep -E 'invariant broken|runtime error|ERROR: AddressSanitizer|Test unit written|DONE +cov|^stat::' \
	        $(BUILD)/fuzz/$$t.log | tail -12; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashed:$$failed" >&2; exit 1; fi

# ---- format -----------------------------------------------------------------
FMT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')
format:
	@scripts/deps.sh format
	clang-format -i $(FMT_FILES)
format-check:
	@scripts/deps.sh format
	clang-format --dry-run --Werror $(FMT_FILES)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
