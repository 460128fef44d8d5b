# xps — the one build entry point.  `make help` lists every target.
#
# Layout of what this file produces (out of tree, under build/):
#   build/bin/stage-NN        one binary per stages/stage-NN-<name>/
#   build/bin/xps             the product server (apps/xps/, docs/operators.md)
#   build/bin/test-upstream   the dummy upstream the proxy stages are tested with
#   build/lib/libxps.a        the runtime (core/, modules/, http/) once it has sources
#   build/tests/...           unit tests, stage checks, grader self-test
#   build/obj/...             objects and their dependency files
# `SAN=1` builds the same tree under build/san/ with ASan and UBSan.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

SAN ?= 0
FUZZ ?= 0
CC  := gcc
CXX := g++
ifeq ($(SAN),1)
  BUILD := build/san
  SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(FUZZ),1)
  # make fuzz: clang's libFuzzer, with ASan and UBSan, in a build of its own
  BUILD := build/fuzz
  SANITIZE := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
  CC  := clang
  CXX := clang++
else
  BUILD := build
  SANITIZE :=
endif

AR  := ar
OPT ?= -O2
WARN := -Wall -Wextra
CPPFLAGS := -I. -MMD -MP
CFLAGS   := -std=gnu11 $(OPT) -g $(WARN) $(SANITIZE)
CXXFLAGS := -std=c++20 $(OPT) -g $(WARN) $(SANITIZE)
LDFLAGS  := $(SANITIZE)

# Debian packages every target may need.  `make deps` installs the missing
# ones; netcat, curl, strace and pv are what the chapters poke servers with,
# valgrind checks that stage 06 shuts down without a leak.  The chapters
# watch servers with procps (ps, pgrep: stages 03-09 and 13; top: stage 07)
# and iproute2 (ss: stages 01-07; ip: stage 14), which a minimal Debian
# lacks, and docs/performance.md watches packets with tcpdump.  Stage 18's
# chapter attacks stages 15 and 18 with slowhttptest (a slowloris); stage 19's
# checks and chapter speak TLS with openssl s_client (the openssl tool).  (prlimit,
# stages 00 and 07, is util-linux's, which every Debian has.)
DEB_PACKAGES := g++ make pkg-config libssl-dev zlib1g-dev libcjson-dev \
                libcmocka-dev netcat-openbsd curl strace pv valgrind \
                procps iproute2 tcpdump slowhttptest openssl
# What `make bench` measures xps against (and plots with); `make test`
# installs them too, since it runs the benchmark once, briefly (QUICK=1).
BENCH_PACKAGES := wrk nginx-light h2o gnuplot-nox
# The real browser stage 15's checks drive (headless: --dump-dom, and a
# screenshot kept in build/reports/); `make test` installs it.
BROWSER_PACKAGES := chromium

# ------------------------------------------------------------------ sources

STAGE_DIRS := $(sort $(wildcard stages/stage-[0-9][0-9]-*))
stage_num   = $(word 2,$(subst -, ,$(notdir $(1))))
STAGE_NUMS := $(foreach d,$(STAGE_DIRS),$(call stage_num,$(d)))
STAGE_BINS := $(addprefix $(BUILD)/bin/stage-,$(STAGE_NUMS))
NEWEST_STAGE := $(lastword $(STAGE_NUMS))

LIB_SRCS := $(sort $(wildcard core/*.cpp modules/*/*.cpp http/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIBXPS   := $(if $(LIB_SRCS),$(BUILD)/lib/libxps.a)
LIB_LIBS := $(if $(LIB_SRCS),$(shell pkg-config --libs openssl zlib libcjson 2>/dev/null))

PUBLIC_HEADERS := $(sort $(wildcard core/*.h modules/*/*.h http/*.h tests/support/*.h))

SUPPORT_SRCS := $(filter-out tests/support/upstream_main.c,$(sort $(wildcard tests/support/*.c)))
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)
SUPPORT_LIB  := $(BUILD)/lib/libxtest.a
TEST_LIBS    := -lcmocka -lz

UNIT_SRCS   := $(sort $(wildcard tests/unit/*.c))
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit-%,$(UNIT_SRCS))
# Fuzz targets (tests/fuzz/fuzz.h): libFuzzer binaries for make fuzz, and
# replayers of their committed corpus for make test.
FUZZ_NAMES  := $(basename $(notdir $(filter-out tests/fuzz/replay.cpp,$(sort $(wildcard tests/fuzz/*.cpp)))))
FUZZ_BINS   := $(addprefix $(BUILD)/bin/fuzz-,$(FUZZ_NAMES))
REPLAY_BINS := $(addprefix $(BUILD)/tests/fuzz-replay-,$(FUZZ_NAMES))
CHECK_SRCS  := $(sort $(wildcard tests/stages/stage_[0-9][0-9].c))
CHECK_BINS  := $(patsubst tests/stages/stage_%.c,$(BUILD)/tests/stage-%,$(CHECK_SRCS))
GRADER_BINS := $(BUILD)/tests/grader-self-test $(BUILD)/tests/wrong-stage-01 \
               $(BUILD)/tests/course-map $(BUILD)/tests/layout-probe
CLI_TEST    := $(BUILD)/tests/cli
# Fault injection (tests/chaos/): the checks, and the LD_PRELOAD seam that
# fails one allocation (never sanitized itself: it sits in front of ASan).
CHAOS_TEST  := $(BUILD)/tests/chaos
FAIL_ALLOC  := $(BUILD)/lib/libxps-fail-alloc.so
TOOL_BINS   := $(BUILD)/bin/test-upstream
# The product (apps/xps/, docs/operators.md) and its black-box checks.
APP_BINS    := $(BUILD)/bin/xps
APP_TESTS   := $(BUILD)/tests/app-xps
BENCH_BINS  := $(BUILD)/bench/idle-connections $(BUILD)/bench/idle-bytes

# ------------------------------------------------------------------ targets

.PHONY: all help deps bench-deps browser-deps bench-build run test test-build check-headers check-chapters grade \
        chaos soak \
        bench clean \
        $(addprefix stage-,$(STAGE_NUMS))

all: $(STAGE_BINS) $(APP_BINS) $(TOOL_BINS) $(LIBXPS) ## build every stage binary, build/bin/xps (and libxps.a)

help: ## list the targets
	@echo "xps — make targets"
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk -F':.*## ' '{ printf "  make %-15s %s\n", $$1, $$2 }'
	@printf '  make %-15s %s\n' stage-NN "build one stage binary (stages: $(STAGE_NUMS))"
	@echo
	@echo "Variables: SAN=1 (ASan+UBSan build in build/san), STAGE=N or COURSE=N, BIN=path, FORMAT=junit|json (grade)"

# $(call install_missing,TARGET,PACKAGES): apt-get installs those of
# PACKAGES that dpkg does not list as installed, saying what it runs; not
# root, it prints the one command to run instead and fails.
define install_missing
@missing=""; \
if ! command -v dpkg-query >/dev/null; then \
  echo "$(1): this is not a Debian system; install by hand: $(2)"; exit 1; fi; \
for p in $(2); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
done; \
if [ -z "$$missing" ]; then echo "$(1): all present ($(2))"; exit 0; fi; \
echo "$(1): missing:$$missing"; \
if [ "$$(id -u)" != 0 ]; then \
  echo "$(1): not root, so not installing. Run:"; \
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; \
  exit 1; fi; \
echo "$(1): running: apt-get update"; \
apt-get update -q >/dev/null || exit 1; \
echo "$(1): running: apt-get install -y --no-install-recommends$$missing"; \
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null || exit 1; \
echo "$(1): installed:$$missing"
endef

deps: ## install missing Debian packages (apt-get), saying exactly what it runs
	$(call install_missing,deps,$(DEB_PACKAGES))

# After deps, never beside it: two apt-get runs at once (make -j) would
# fight over dpkg's lock.
bench-deps: deps ## install what make bench compares xps with: wrk, nginx, h2o, gnuplot
	$(call install_missing,bench-deps,$(BENCH_PACKAGES))

browser-deps: deps ## install the headless browser stage 15's checks drive: chromium
	$(call install_missing,browser-deps,$(BROWSER_PACKAGES))

$(foreach n,$(STAGE_NUMS),$(eval stage-$(n): $(BUILD)/bin/stage-$(n)))

# In the foreground: Ctrl-C (SIGINT) drains and stops it (docs/operators.md).
run: deps ## build and start xps on its embedded default (the welcome page, the docs; 8080 and 8443)
	@$(MAKE) --no-print-directory $(BUILD)/bin/xps
	@echo "make run: starting $(BUILD)/bin/xps (no -c: its embedded default; Ctrl-C stops it)"
	@exec $(BUILD)/bin/xps

test-build: $(STAGE_BINS) $(APP_BINS) $(APP_TESTS) $(TOOL_BINS) $(LIBXPS) $(UNIT_BINS) $(CHECK_BINS) $(GRADER_BINS) $(CLI_TEST) \
            $(REPLAY_BINS) $(CHAOS_TEST) $(FAIL_ALLOC)

# Then, outside the sanitizer build (whose speed means nothing), the
# benchmark once for a second per scenario: it proves the harness still
# works and that every server serves the files; it asserts no speed.
# browser-deps (stage 15's checks drive chromium) runs in the recipe, so
# after deps and bench-deps: never two apt-get runs at once. The
# chapters, like the bench, are checked in the plain build only.
test: deps $(if $(filter 1,$(SAN)),,bench-deps) ## install, build, run every unit test and stage check (SAN=1: under sanitizers)
	@$(MAKE) --no-print-directory browser-deps
	@$(MAKE) --no-print-directory test-build $(if $(filter 1,$(SAN)),,bench-build)
	@$(MAKE) --no-print-directory check-headers
	@tests/run $(BUILD)
	@$(if $(filter 1,$(SAN)),echo "check-chapters: not run under SAN=1 (a chapter shows the reader's build: its ldd lines, its link commands and its timings are the plain build's)",$(MAKE) --no-print-directory check-chapters)
	@$(if $(filter 1,$(SAN)),echo "bench: not run under SAN=1 (a sanitizer build is not measured)",QUICK=1 tests/bench/run $(BUILD))

# The runner's self-test first: it proves the runner can fail at all.
check-chapters: deps $(STAGE_BINS) $(TOOL_BINS) $(UNIT_BINS) ## run each chapter's marked commands, compare what they print with the text (docs/conventions.md)
	@tests/chapters/self-test/run $(BUILD)
	@tests/chapters/run $(BUILD)

check-headers: ## compile every public header alone as C11 with -pedantic -Werror
	@for h in $(PUBLIC_HEADERS); do \
	  $(CC) -std=c11 -Wall -Wextra -pedantic -Werror -I. -fsyntax-only -x c $$h || exit 1; \
	done; echo "check-headers: $(words $(PUBLIC_HEADERS)) header(s) compile alone as C11"

STAGE ?=
COURSE ?=
BIN ?=
FORMAT ?= text
# Builds only what the checks run: their binary, ours (unless BIN names
# another), stage 01 (stage 02's checks talk to it) and the test upstream.
# COURSE=N: build/tests/course-map (tests/support/course.c) says which of
# our stages grades the course's stage N and which flags OUR binary needs
# there; the checks then start the binary as the course's tester does
# (XPS_COURSE, see tests/support/harness.h). A student's binary gets no flag.
grade: ## grade a stage binary: make grade STAGE=N | COURSE=N [BIN=path] [FORMAT=junit|json]
	@[ -z "$(STAGE)" ] || [ -z "$(COURSE)" ] || \
	  { echo "grade: STAGE=N (our numbers) or COURSE=N (the course's), not both"; exit 2; }
	@[ -n "$(STAGE)$(COURSE)" ] || \
	  { echo "usage: make grade STAGE=N [BIN=path/to/binary] [FORMAT=junit|json]"; \
	    echo "       make grade COURSE=N [BIN=path/to/binary] [FORMAT=junit|json]   (the course's numbers)"; \
	    exit 2; }
	@set -o pipefail; course_env=(); \
	if [ -n "$(COURSE)" ]; then \
	  $(MAKE) -s --no-print-directory $(BUILD)/tests/course-map || exit 2; \
	  line=$$($(BUILD)/tests/course-map "$(COURSE)" 2>&1) || { echo "grade: $$line"; exit 2; }; \
	  IFS=$$'\t' read -r n title flags <<< "$$line"; \
	  echo "grade: course stage $(COURSE) ($$title) is our stage $$n: its checks, in the course's layout"; \
	  [ -z "$(BIN)" ] || [ -z "$$flags" ] || \
	    echo "grade: (our own stage-$$n would get $$flags there; a student's binary gets no flag)"; \
	  [ -n "$(BIN)" ] && flags=""; \
	  course_env=(XPS_COURSE=$(COURSE) "XPS_COURSE_FLAGS=$$flags"); report_name=course-$(COURSE); \
	else \
	  n=$$(printf '%02d' $$((10#$(STAGE)))); report_name=stage-$$n; \
	fi; \
	[ -f tests/stages/stage_$$n.c ] || { echo "grade: no checks for stage $$n"; exit 2; }; \
	$(MAKE) -s --no-print-directory $(BUILD)/tests/stage-$$n $(BUILD)/bin/stage-01 $(TOOL_BINS) \
	  $$([ -n "$(BIN)" ] || echo $(BUILD)/bin/stage-$$n) || exit 2; \
	bin="$(BIN)"; [ -n "$$bin" ] || bin=$(BUILD)/bin/stage-$$n; \
	[ -x "$$bin" ] || { echo "grade: $$bin is not an executable file"; exit 2; }; \
	case "$(FORMAT)" in \
	  text) ;; \
	  junit) mkdir -p $(BUILD)/reports; report=$(abspath $(BUILD))/reports/$$report_name.xml; \
	    export CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE=$$report; \
	    echo "grade: JUnit report: $$report";; \
	  json) mkdir -p $(BUILD)/reports; report=$(abspath $(BUILD))/reports/$$report_name.json; \
	    export XT_JSON_REPORT=$$report; \
	    echo "grade: JSON report (autograder shape): $$report";; \
	  *) echo "grade: FORMAT=$(FORMAT)? text (the default), junit or json"; exit 2;; \
	esac; \
	env "$${course_env[@]}" XPS_GRADE=1 XPS_STAGE_BIN=$$(realpath $$bin) $(BUILD)/tests/stage-$$n

DIR ?=
# Every executable in DIR graded by stage N's checks, one at a time (each in
# its own network namespace when root): build/reports/stage-NN.csv, and each
# submission's report in build/reports/stage-NN/.
grade-all: ## grade every executable in a folder: make grade-all STAGE=N DIR=submissions/
	@[ -n "$(STAGE)" ] && [ -n "$(DIR)" ] || \
	  { echo "usage: make grade-all STAGE=N DIR=folder/of/binaries"; exit 2; }
	@n=$$(printf '%02d' $$((10#$(STAGE)))); \
	[ -f tests/stages/stage_$$n.c ] || { echo "grade-all: no checks for stage $$n"; exit 2; }; \
	$(MAKE) -s --no-print-directory $(BUILD)/tests/stage-$$n $(BUILD)/bin/stage-01 $(TOOL_BINS) || exit 2; \
	tests/grader/grade_all $(BUILD)/tests/stage-$$n "$(DIR)" $(BUILD)/reports

stages-doc: test-build ## rewrite docs/stages.md's list of each stage's checks from the check binaries
	@tests/grader/stages_doc $(BUILD) --write

OUT ?=
# The stubs are made from the objects of this build (what each file really
# defines), so the library is built first.
skeleton: ## a student's hand-out for stage N (its files stubbed): make skeleton STAGE=N OUT=dir
	@[ -n "$(STAGE)" ] && [ -n "$(OUT)" ] || { echo "usage: make skeleton STAGE=N OUT=folder"; exit 2; }
	@$(MAKE) -s --no-print-directory $(LIBXPS)
	@tests/grader/skeleton $(BUILD) "$(STAGE)" "$(OUT)"

NUM ?=
NAME ?=
new-stage: ## scaffold a stage from the newest one below it: make new-stage NUM=22 NAME=http2
	@tests/grader/new_stage "$(NUM)" "$(NAME)"

FUZZ_SECONDS ?= 60
# Every fault of tests/chaos/chaos.c on the newest stage, the slow ones
# too (slowhttptest's three attacks, 10,000 connections held); `make test`
# runs the fast ones. SAN=1: the same under ASan and UBSan, whose leak
# report each scenario's server exit is checked for.
chaos: deps ## inject faults into the newest stage (tests/chaos/, docs/reliability.md); SAN=1 too
	@$(MAKE) --no-print-directory $(BUILD)/bin/stage-$(NEWEST_STAGE) $(TOOL_BINS) $(CHAOS_TEST) $(FAIL_ALLOC)
	@ASAN_OPTIONS=$${ASAN_OPTIONS:-exitcode=86:detect_leaks=1} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:exitcode=86} \
	  XPS_STAGE_BIN=$(abspath $(BUILD)/bin/stage-$(NEWEST_STAGE)) timeout --kill-after=10 1200 $(CHAOS_TEST) --full

# Mixed load (static, gzip, proxy, cache hits, TLS) on the newest stage
# with 2 workers for SOAK_SECONDS, RSS and descriptors sampled every 10 s
# into build/soak/samples.csv, and a verdict (tests/soak/run says which).
# Not in make test: it takes minutes and loads the machine.
SOAK_SECONDS ?= 600
soak: deps bench-deps ## SOAK_SECONDS (600) of mixed load on stage 21, memory and descriptors sampled (build/soak/)
	@$(MAKE) --no-print-directory $(BUILD)/bin/stage-$(NEWEST_STAGE) $(TOOL_BINS)
	@SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/run $(BUILD)

fuzz: ## fuzz every target (tests/fuzz/) for FUZZ_SECONDS each with libFuzzer, ASan and UBSan
	$(call install_missing,fuzz,clang)
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@tests/fuzz/run build/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-build: $(FUZZ_BINS)

QUICK ?= 0
# One table per worker count: every server with one worker (build/bench/),
# then with two (build/bench/workers-2/).
BENCH_WORKERS ?= 1 2
bench: deps bench-deps ## xps beside nginx and h2o at 1 and 2 workers: build/bench/results.md (QUICK=1: 1 s each)
	@$(MAKE) --no-print-directory bench-build
	@for w in $(BENCH_WORKERS); do QUICK=$(QUICK) BENCH_WORKERS=$$w tests/bench/run $(BUILD) || exit 1; done

bench-build: $(STAGE_BINS) $(APP_BINS) $(BENCH_BINS)

clean: ## remove build/
	rm -rf build

# ------------------------------------------------------------------ rules

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Made afresh each time: `ar rcs` into an old archive would keep the
# objects of sources that have since moved or gone (their symbols twice).
$(BUILD)/lib/libxps.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(SUPPORT_LIB): $(SUPPORT_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# A stage binary: its folder's .cpp files, plus the runtime library.
define stage_rule
$(BUILD)/bin/stage-$(call stage_num,$(1)): $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard $(1)/*.cpp)) $(LIBXPS)
	@mkdir -p $$(@D)
	$(CXX) $(LDFLAGS) $$^ $(LIB_LIBS) -o $$@
endef
$(foreach d,$(STAGE_DIRS),$(eval $(call stage_rule,$(d))))

$(BUILD)/bin/xps: $(BUILD)/obj/apps/xps/main.o $(LIBXPS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIB_LIBS) -o $@

$(BUILD)/tests/app-xps: $(BUILD)/obj/tests/apps/xps.o $(SUPPORT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(TEST_LIBS) -o $@

$(BUILD)/bin/test-upstream: $(BUILD)/obj/tests/support/upstream_main.o $(BUILD)/obj/tests/support/upstream.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -lssl -lcrypto -o $@

$(BUILD)/tests/unit-%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_LIB) $(LIBXPS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIB_LIBS) $(TEST_LIBS) -o $@

$(BUILD)/tests/stage-%: $(BUILD)/obj/tests/stages/stage_%.o $(SUPPORT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(TEST_LIBS) -o $@

# Stage 16's checks inflate what the server sends with zlib.

$(BUILD)/tests/grader-self-test: $(BUILD)/obj/tests/grader/grader_self_test.o $(SUPPORT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(TEST_LIBS) $(shell pkg-config --libs libcjson) -o $@

$(BUILD)/bin/fuzz-%: $(BUILD)/obj/tests/fuzz/%.o $(LIBXPS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer $^ $(LIB_LIBS) -o $@

$(BUILD)/tests/fuzz-replay-%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBXPS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIB_LIBS) -o $@

$(CHAOS_TEST): $(BUILD)/obj/tests/chaos/chaos.o $(SUPPORT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(TEST_LIBS) -lssl -lcrypto -o $@

$(FAIL_ALLOC): tests/chaos/fail_alloc.cpp
	@mkdir -p $(@D)
	$(CXX) -std=c++20 -O2 -g $(WARN) -fPIC -shared $< -ldl -o $@

$(BUILD)/tests/cli: $(BUILD)/obj/tests/stages/cli.o $(SUPPORT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(TEST_LIBS) -o $@

$(BUILD)/bench/idle-connections: $(BUILD)/obj/tests/bench/idle_connections.o
$(BUILD)/bench/idle-bytes: $(BUILD)/obj/tests/bench/idle_bytes.o
$(BENCH_BINS):
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/course-map: $(BUILD)/obj/tests/grader/course_map.o $(BUILD)/obj/tests/support/course.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/layout-probe: $(BUILD)/obj/tests/grader/layout_probe.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/wrong-stage-01: $(BUILD)/obj/tests/grader/wrong_stage_01.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
