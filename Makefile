# rivulet: build, test, install (GNU make).
#
#   make                 build/rivulet (host), build/lib/rivulet/core.so (Lua C module),
#                        build/librivulet.a (the core objects); a machine without the
#                        -dev packages is told which, and to run `make deps`
#   make deps            install the missing Debian packages (scripts/deps.sh; root)
#   make test            install missing Debian packages, build, C tests, conformance
#                        ratchet, conversation specs (rivulet test on flows/specs/ and
#                        spec/corpus/), LuaUnit suite (its summary is the last line)
#   make test OFFLINE=1  the same without touching the network: nothing is installed, the
#                        specs that need npm packages not yet there skip, saying why
#   make SANITIZE=1 test the same with ASan+UBSan, built in build-asan/
#   make install         DESTDIR, PREFIX, BINDIR, LIBDIR, LUADIR, INCDIR honoured
#   make LUA_STATIC=0    build/rivulet on the shared liblua (default: Debian's static
#                        liblua5.4.a when it is there; a quicker start)
#
# Every knob below is ?= so the command line, the environment or LuaRocks can set it.
# LuaRocks (rivulet-scm-1.rockspec, build.type = "make") passes CFLAGS, LIBFLAG,
# LUA_INCDIR, LUA, CURL_INCDIR, CURL_LIBDIR when building and PREFIX, LIBDIR, LUADIR,
# BINDIR when installing. On Debian, LuaRocks 3.8 does not find curl.h by itself: pass
# CURL_INCDIR=/usr/include/x86_64-linux-gnu to luarocks.

CC         ?= cc
CFLAGS     ?= -O2 -g
LDFLAGS    ?=
AR         ?= ar
INSTALL    ?= install
PKG_CONFIG ?= pkg-config
LUA_PC     ?= lua5.4
LUA        ?= lua5.4
LUA_V      ?= 5.4
LIBFLAG    ?= -shared
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
INCDIR     ?= $(PREFIX)/include
SANITIZE   ?=
OFFLINE    ?=
SAN_FLAGS  ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SPEC_ARGS  ?=
SHARED     ?= $(or $(RIVULET_SHARED),../shared)
FUZZ_CC    ?= clang
FUZZ_CFLAGS ?= -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10

# Install dirs for modules default to the Lua .pc variables. Debian's INSTALL_CMOD is the
# multiarch dir, which stock lua5.4 searches only under /usr; for any other PREFIX the C
# module goes to $(PREFIX)/lib/lua/5.4, which lua5.4 does search.
pcvar = $(shell $(PKG_CONFIG) --define-variable=prefix=$(PREFIX) --variable=$(1) $(LUA_PC) 2>/dev/null)
LUA_PC_PREFIX := $(shell $(PKG_CONFIG) --variable=prefix $(LUA_PC) 2>/dev/null)
ifeq ($(PREFIX),$(LUA_PC_PREFIX))
LIBDIR ?= $(or $(call pcvar,INSTALL_CMOD),$(PREFIX)/lib/lua/$(LUA_V))
else
LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_V)
endif
LUADIR ?= $(or $(call pcvar,INSTALL_LMOD),$(PREFIX)/share/lua/$(LUA_V))

# The C library (librivulet, rivulet.h's link side, rivulet.pc). LuaRocks installs with
# LIBDIR = $(PREFIX)/lib and then moves all of LIBDIR into its tree's Lua module dir, which
# would leave rivulet.pc naming a libdir that no longer holds the library: under LuaRocks
# the C library goes to $(PREFIX)/clib, which stays in the rock's own directory.
ifeq ($(abspath $(LIBDIR)),$(abspath $(PREFIX)/lib))
CLIBDIR ?= $(PREFIX)/clib
else
CLIBDIR ?= $(PREFIX)/lib
endif
PKGCONFIGDIR ?= $(CLIBDIR)/pkgconfig
# The dirs the dynamic linker searches without being told: a CLIBDIR elsewhere (any
# PREFIX but /usr) is written into rivulet.pc's Libs as an rpath, so a program linked with
# `pkg-config --libs rivulet` finds librivulet.so at run time without LD_LIBRARY_PATH.
SYSTEM_LIBDIRS := /lib /usr/lib /lib64 /usr/lib64 $(addprefix /usr/lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
# ...and the dirs whose ld.so cache make install refreshes (Debian's ld.so.conf adds
# /usr/local/lib), with the ldconfig commands tried in turn
LDCONFIG_DIRS := $(SYSTEM_LIBDIRS) /usr/local/lib $(addprefix /usr/local/lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
LDCONFIG ?= ldconfig /sbin/ldconfig

# Flags of the libraries (pkg-config; the fallbacks keep a build without it possible).
LUA_CFLAGS    ?= $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null))
LUA_LIBS      ?= $(or $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null),-llua$(LUA_V))
CURL_CFLAGS   ?= $(if $(CURL_INCDIR),-I$(CURL_INCDIR)) $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
# libcurl is opened on first use (src/curl_lazy.c): CURL_LIBDIR names the folder it is
# opened from instead of the loader's search path
CURL_CFLAGS   += $(if $(CURL_LIBDIR),-DRV_CURL_SONAME='"$(CURL_LIBDIR)/libcurl.so.4"')
CRYPTO_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcrypto 2>/dev/null)
PCRE_CFLAGS   ?= $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
SQLITE_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
PQ_CFLAGS     ?= $(or $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null),-I/usr/include/postgresql)
MHD_CFLAGS    ?= $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
EDIT_CFLAGS   ?= $(shell $(PKG_CONFIG) --cflags libedit 2>/dev/null)
MOD_LDFLAGS   ?= -Wl,--version-script=$(B)/core.map
# The host (build/rivulet, only it) links liblua statically when Debian's archive is there:
# no shared liblua to map and relocate at every start. The whole archive goes in, so a C
# module the host loads (lua-cjson) finds every Lua API function it exports (-Wl,-E).
# LUA_STATIC=0 links the shared liblua. The Lua module (core.so) never holds a Lua: the
# interpreter that loads it provides it; librivulet and the example hosts stay shared.
LUA_A         ?= /usr/lib/x86_64-linux-gnu/liblua$(LUA_V).a
LUA_STATIC    ?= $(if $(wildcard $(LUA_A)),1,0)

# Expand the $(shell ...) defaults once (a command-line value still wins).
LIBDIR        := $(LIBDIR)
LUADIR        := $(LUADIR)
CLIBDIR       := $(CLIBDIR)
LUA_CFLAGS    := $(LUA_CFLAGS)
LUA_LIBS      := $(LUA_LIBS)
CURL_CFLAGS   := $(CURL_CFLAGS)
CRYPTO_CFLAGS := $(CRYPTO_CFLAGS)
PCRE_CFLAGS   := $(PCRE_CFLAGS)
SQLITE_CFLAGS := $(SQLITE_CFLAGS)
PQ_CFLAGS     := $(PQ_CFLAGS)
MHD_CFLAGS    := $(MHD_CFLAGS)
EDIT_CFLAGS   := $(EDIT_CFLAGS)

# Project flags come first, the user's CFLAGS after them (so they can override).
WARNINGS := -std=c99 -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wmissing-prototypes \
            -Wstrict-prototypes -Wmissing-declarations -Wredundant-decls -Wpointer-arith \
            -Wcast-qual
DEFINES  := -D_DEFAULT_SOURCE

ifeq ($(SANITIZE),1)
B   := build-asan
SAN := $(SAN_FLAGS)
else
B   := build
SAN :=
endif

LIB_CFLAGS := $(LUA_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) $(PCRE_CFLAGS) $(SQLITE_CFLAGS) $(PQ_CFLAGS) $(MHD_CFLAGS)
ALL_CFLAGS  = $(WARNINGS) $(DEFINES) $(LIB_CFLAGS) $(EXTRA_CFLAGS) $(SAN) $(CFLAGS) $(CPPFLAGS) \
              -fPIC -MMD -MP
# No library of the core's own is linked: src/*_lazy.c open libcurl, libpq, libmicrohttpd,
# libcrypto, PCRE2 and SQLite when the first call needs them (src/lazy.h says why).
CORE_LIBS  := -ldl -lm

# The core: every src/*.c except the host program (main.c), the C API (rivulet.c) and the
# state setup both share (host.c: it builds a lua_State, which a Lua module never does).
# rivulet.c and host.c embed Lua, so they go into librivulet, not into the Lua module.
CORE_SRC := $(filter-out src/main.c src/rivulet.c src/host.c,$(wildcard src/*.c))
OBJDIR   := $(B)/obj
CORE_OBJ := $(CORE_SRC:src/%.c=$(OBJDIR)/%.o)
SETUP_OBJ := $(OBJDIR)/host.o
# The host's own Lua modules, compiled to bytecode at build time (scripts/embed_lua.c) and
# linked beside host.o, which loads them instead of their text (src/host.h says when).
EMBED_TOOL := $(B)/embed_lua
EMBED_C   := $(B)/gen/lua_modules.c
EMBED_MOD_OBJ := $(OBJDIR)/lua_modules.o
EMBED_OBJ := $(OBJDIR)/rivulet.o $(SETUP_OBJ) $(EMBED_MOD_OBJ)
LIB_SO   := $(B)/librivulet.so
PC       := $(B)/rivulet.pc
HOSTS    := $(patsubst flows/hosts/%.c,$(B)/hosts/%,$(wildcard flows/hosts/*.c))
HOST_OBJ := $(OBJDIR)/main.o
HOST     := $(B)/rivulet
LIB_A    := $(B)/librivulet.a
MODDIR   := $(B)/lib
MOD      := $(MODDIR)/rivulet/core.so

CTEST_BIN := $(patsubst spec/c/%.c,$(B)/c/%,$(wildcard spec/c/test_*.c))

FUZZ_DIR := build/fuzz
FUZZ_BIN := $(patsubst spec/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard spec/fuzz/fuzz_*.c))
FUZZ_OBJ := $(CORE_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/obj/host.o $(FUZZ_DIR)/obj/lua_modules.o

LUA_FILES := $(shell find lua/rivulet -type f 2>/dev/null | LC_ALL=C sort)
LUA_MODS  := $(filter %.lua,$(LUA_FILES))

# Conversation specs run by `rivulet test`: the example flows' (next to them) and the
# shared corpus's (with the project's own tests; they skip when the corpus is absent).
FLOW_SPECS := $(wildcard flows/specs/*_spec.lua spec/corpus/*_spec.lua spec/hostile/*_spec.lua)

# Environment of every Lua run: the checkout's modules first, then whatever was set.
LUA_ENV = LUA_PATH_5_4="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$${LUA_PATH_5_4:-$${LUA_PATH:-;}}" \
          LUA_CPATH_5_4="$(CURDIR)/$(MODDIR)/?.so;$${LUA_CPATH_5_4:-$${LUA_CPATH:-;}}" \
          RIVULET_BIN="$(CURDIR)/$(HOST)" RIVULET_SHARED="$(abspath $(SHARED))" RIVULET_BUILD="$(B)" \
          $(OFFLINE_ENV)
# OFFLINE=1: no apt-get, no npm (scripts/*.sh and the specs read RIVULET_OFFLINE)
OFFLINE_ENV = $(if $(filter-out 0,$(OFFLINE)),RIVULET_OFFLINE=1)
# A sanitized core.so cannot load into a plain lua5.4: sanitized runs go through the host.
ifeq ($(SANITIZE),1)
LUA_RUN = $(CURDIR)/$(HOST) lua
else
LUA_RUN = $(LUA)
endif

.PHONY: memcheck all test check spec ratchet conformance bench demo fuzz fuzz-build fuzz-run deps \
        lint install uninstall clean

all: $(HOST) $(MOD) $(LIB_A) $(LIB_SO) $(PC) $(HOSTS)

$(OBJDIR)/%.o: src/%.c | $(B)/headers.ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Before the first compile: the compiler, pkg-config and every library's header are there,
# or make stops saying which Debian packages are missing and how to get them (instead of
# "curl/curl.h: No such file or directory").
HEADERS := lua.h:liblua5.4-dev curl/curl.h:libcurl4-openssl-dev openssl/hmac.h:libssl-dev \
           pcre2.h:libpcre2-dev sqlite3.h:libsqlite3-dev microhttpd.h:libmicrohttpd-dev \
           editline/readline.h:libedit-dev
$(B)/headers.ok:
	@missing=; \
	command -v $(firstword $(CC)) >/dev/null 2>&1 || missing=" gcc"; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -z "$$missing" ]; then for h in $(HEADERS); do \
	  printf '#define PCRE2_CODE_UNIT_WIDTH 8\n#include <%s>\n' "$${h%%:*}" | \
	    $(CC) $(LIB_CFLAGS) $(EDIT_CFLAGS) -E -x c - >/dev/null 2>&1 || missing="$$missing $${h#*:}"; \
	done; fi; \
	if [ -n "$$missing" ]; then \
	  echo "make: cannot build rivulet: missing Debian packages:$$missing" >&2; \
	  echo "make: run 'make deps' (as root; it installs what is missing with apt-get), or:" >&2; \
	  echo "  apt-get install --no-install-recommends$$missing" >&2; \
	  exit 1; fi
	@mkdir -p $(@D)
	@touch $@

$(HOST_OBJ): EXTRA_CFLAGS = $(EDIT_CFLAGS)
$(SETUP_OBJ): EXTRA_CFLAGS = -DRIVULET_LUADIR='"$(LUADIR)"'

# host.o bakes in LUADIR: rebuild it when that changes (make install PREFIX=...).
$(B)/luadir.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(LUADIR)' | cmp -s - $@ || echo '$(LUADIR)' > $@
$(SETUP_OBJ): $(B)/luadir.stamp
.PHONY: FORCE
FORCE:

# The generator runs at build time, so it is built without the sanitizers.
$(EMBED_TOOL): scripts/embed_lua.c | $(B)/headers.ok
	$(CC) $(WARNINGS) $(DEFINES) $(LUA_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LUA_LIBS)

# The list of modules: a module added or removed regenerates the table too.
$(B)/luamods.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(LUA_MODS)' | cmp -s - $@ || echo '$(LUA_MODS)' > $@

$(EMBED_C): $(EMBED_TOOL) $(LUA_MODS) $(B)/luamods.stamp
	@mkdir -p $(@D)
	$(EMBED_TOOL) $@.tmp lua $(LUA_MODS:lua/%=%) && mv $@.tmp $@

$(EMBED_MOD_OBJ): $(EMBED_C)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc -c -o $@ $<

$(LIB_A): $(CORE_OBJ) $(EMBED_OBJ)
	@rm -f $@
	$(AR) rcs $@ $(CORE_OBJ) $(EMBED_OBJ)

# The C API as a shared library (it carries Lua's dependency, the module does not).
$(LIB_SO): $(CORE_OBJ) $(EMBED_OBJ)
	$(CC) -shared $(SAN) $(LDFLAGS) -o $@ $(CORE_OBJ) $(EMBED_OBJ) $(LUA_LIBS) $(CORE_LIBS)

# rivulet.pc, written with the paths of this make run: install writes it again, so that
# `make install PREFIX=...` never ships the paths of an earlier build.
# Libs.private lists the libraries librivulet.a needs, not their .pc files: `pkg-config
# --static` would otherwise add libcurl's own private libraries (-lnghttp2...), whose
# development files Debian does not install.
write_pc = printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: rivulet\nDescription: %s\nVersion: %s\nLibs: -L$${libdir} %s-lrivulet\nLibs.private: %s\nCflags: -I$${includedir}\n' \
	  '$(PREFIX)' '$(CLIBDIR)' '$(INCDIR)' 'Studio-style flows, embedded' \
	  "$$(sed -n 's/.*RIVULET_VERSION \"\(.*\)\"/\1/p' src/version.h)" \
	  '$(if $(filter $(abspath $(CLIBDIR)),$(SYSTEM_LIBDIRS)),,-Wl$(comma)-rpath$(comma)$${libdir} )' \
	  '$(strip $(LUA_LIBS) $(CORE_LIBS))' > $(1)
comma := ,

$(PC): Makefile
	@mkdir -p $(@D)
	@$(call write_pc,$@)

# Example hosts (flows/hosts/*.c): programs embedding rivulet through rivulet.h.
$(B)/hosts/%: flows/hosts/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(LIB_A) $(LUA_LIBS) $(CORE_LIBS)

# Only luaopen_rivulet_core is exported from the module.
$(B)/core.map:
	@mkdir -p $(@D)
	@printf '{\n  global: luaopen_rivulet_core;\n  local: *;\n};\n' > $@

# Not linked against liblua: the interpreter that loads it provides the Lua API.
$(MOD): $(CORE_OBJ) $(B)/core.map
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(SAN) $(LDFLAGS) $(MOD_LDFLAGS) -o $@ $(CORE_OBJ) $(CORE_LIBS)

# The host links the core statically and exports its symbols (-Wl,-E) for C modules. No
# libedit: main.c opens libedit when the REPL starts on a terminal.
HOST_LUA_LIBS = $(if $(filter 1,$(LUA_STATIC)),-Wl$(comma)--whole-archive $(LUA_A) -Wl$(comma)--no-whole-archive,$(LUA_LIBS))
$(HOST): $(HOST_OBJ) $(LIB_A) $(B)/luastatic.stamp
	$(CC) $(SAN) $(LDFLAGS) -Wl,-E -o $@ $(HOST_OBJ) $(LIB_A) $(HOST_LUA_LIBS) $(CORE_LIBS)

# relink the host when LUA_STATIC changes
$(B)/luastatic.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(LUA_STATIC) $(LUA_A)' | cmp -s - $@ || echo '$(LUA_STATIC) $(LUA_A)' > $@

# ---- tests

# twilio-run is installed before the flow specs, whose live cases use it (offline, or npm
# unreachable: they skip, saying why)
test:
	@$(OFFLINE_ENV) sh scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory ratchet
	@luacheck -q lua spec flows >/dev/null || luacheck -q lua spec flows
	@$(OFFLINE_ENV) sh scripts/twilio-run.sh 2>/dev/null || true
	@$(LUA_ENV) $(CURDIR)/$(HOST) test $(FLOW_SPECS)
	@$(LUA_ENV) $(LUA_RUN) spec/run.lua $(SPEC_ARGS)

deps:
	@$(OFFLINE_ENV) sh scripts/deps.sh

$(B)/c/%: spec/c/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(LIB_A) $(LUA_LIBS) $(CORE_LIBS)

check: $(CTEST_BIN)
	$(if $(CTEST_BIN),,@echo "check: no spec/c/test_*.c yet")
	@fail=0; for t in $(CTEST_BIN); do ./$$t || fail=1; done; exit $$fail

spec: all
	@$(LUA_ENV) $(LUA_RUN) spec/run.lua $(SPEC_ARGS)

# The conformance suites live in the shared reference data (SHARED, default ../shared: see
# README, "The shared reference data"); without them the ratchet is skipped, saying so.
ratchet: all
	@if [ -d '$(SHARED)/liquid' ] && [ -f spec/conformance/run.lua ]; then \
	  $(LUA_ENV) $(LUA_RUN) spec/conformance/run.lua --check; \
	else echo "ratchet: skipped: no Liquid conformance suites in $(SHARED)/liquid (SHARED=DIR points at the shared data)"; fi

conformance: all
	@if [ ! -d '$(SHARED)/liquid' ]; then \
	  echo "make conformance: no Liquid conformance suites in $(SHARED)/liquid: they come with the shared reference data (README); SHARED=DIR points at it" >&2; exit 1; fi
	@$(LUA_ENV) $(LUA_RUN) spec/conformance/run.lua

bench:
	@sh scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all
	@$(LUA_ENV) RIVULET_BIN=$(B)/rivulet bash bench/run.sh

demo:
	@$(OFFLINE_ENV) sh scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@RIVULET_BIN="$(CURDIR)/$(HOST)" $(OFFLINE_ENV) sh scripts/demo.sh

# valgrind memcheck on the C tests, the example hosts, every flow spec (each example flow and
# the corpus flows run through the host) and validation of the corpus: any error or
# definite leak fails. .ci/run runs it after the sanitizer build.
# RIVULET_FREE_AT_EXIT=1: the host allocates every block with malloc and frees it (no arena,
# src/main.c), so valgrind sees each one.
VALGRIND = RIVULET_FREE_AT_EXIT=1 valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite
memcheck: $(CTEST_BIN)
	@sh scripts/deps.sh --memcheck
	@$(MAKE) --no-print-directory all
	@set -e; for t in $(CTEST_BIN); do $(VALGRIND) ./$$t >/dev/null; done
	@$(VALGRIND) $(B)/hosts/game_loop >/dev/null
	@printf '+15550000001 42\n' | $(VALGRIND) $(B)/hosts/poll_loop >/dev/null
	@$(LUA_ENV) $(VALGRIND) $(HOST) test $(FLOW_SPECS) >/dev/null
	@if [ -d '$(SHARED)/studio/flows' ]; then \
	  $(LUA_ENV) $(VALGRIND) $(HOST) validate -q '$(SHARED)'/studio/flows/*.json; fi
	@echo "memcheck: clean"

lint:
	@if command -v luacheck >/dev/null 2>&1; then luacheck lua spec $(wildcard flows); \
	else echo "make lint: luacheck is not installed (apt-get install lua-check)" >&2; exit 1; fi

# ---- fuzzing (clang + libFuzzer): each spec/fuzz/fuzz_*.c against the core sources.
# LQ_CHECK_KEYS: the renderer checks that each key number it looks up stands for its key.

fuzz:
	@sh scripts/deps.sh --fuzz
	@$(MAKE) --no-print-directory fuzz-run

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WARNINGS) $(DEFINES) -DLQ_CHECK_KEYS $(LIB_CFLAGS) $(FUZZ_CFLAGS) \
	  -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/%: spec/fuzz/%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(WARNINGS) $(DEFINES) $(LIB_CFLAGS) $(FUZZ_CFLAGS) -Isrc \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LUA_LIBS) $(CORE_LIBS) $(FUZZ_LIBS)

# fuzz_sign checks sign.c against libcrypto's own digest API, linked for it alone
$(FUZZ_DIR)/fuzz_sign: FUZZ_LIBS = $(or $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null),-lcrypto)

$(FUZZ_DIR)/obj/lua_modules.o: $(EMBED_C)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WARNINGS) $(DEFINES) $(LIB_CFLAGS) $(FUZZ_CFLAGS) -Isrc \
	  -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

fuzz-build: $(FUZZ_BIN)

.SECONDARY: $(FUZZ_OBJ)

# Seeds of fuzz_X (spec/fuzz/corpus/X/) are copied into build/fuzz/corpus/fuzz_X/ so
# spec/fuzz/corpus/ stays as checked in. fuzz_flow also reads the shared corpus's flows in
# place (third-party data is not copied into the project). An input running longer than
# FUZZ_TIMEOUT seconds is a finding (a hang).
fuzz-run: $(FUZZ_BIN)
	$(if $(FUZZ_BIN),,@echo "fuzz: no spec/fuzz/fuzz_*.c yet")
	@fail=0; for t in $(FUZZ_BIN); do \
	  name=$${t##*/}; corpus=$(FUZZ_DIR)/corpus/$$name; seeds=spec/fuzz/corpus/$${name#fuzz_}; \
	  mkdir -p $$corpus $(FUZZ_DIR)/artifacts; \
	  if [ -d $$seeds ]; then cp -R $$seeds/. $$corpus/; fi; \
	  dict=; if [ -f spec/fuzz/$$name.dict ]; then dict=-dict=spec/fuzz/$$name.dict; fi; \
	  extra=; if [ $$name = fuzz_flow ] && [ -d '$(SHARED)/studio/flows' ]; then \
	    extra='$(SHARED)/studio/flows'; fi; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  ./$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$name- $$dict $$corpus $$extra || fail=1; \
	done; exit $$fail

# ---- install

install: all
	$(INSTALL) -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBDIR)/rivulet' '$(DESTDIR)$(LUADIR)/rivulet'
	$(INSTALL) -m 755 $(HOST) '$(DESTDIR)$(BINDIR)/rivulet'
	$(INSTALL) -m 755 $(MOD) '$(DESTDIR)$(LIBDIR)/rivulet/core.so'
	@# rivulet.test was one file before it was a folder: an old copy would hide the folder
	rm -f '$(DESTDIR)$(LUADIR)/rivulet/test.lua'
	@# -p: the host's precompiled modules stand in for files with the mtime they were built from
	@for f in $(LUA_FILES:lua/%=%); do \
	  echo "$(INSTALL) -p -m 644 lua/$$f '$(DESTDIR)$(LUADIR)/$$f'"; \
	  $(INSTALL) -d "$(DESTDIR)$(LUADIR)/$$(dirname $$f)" && \
	  $(INSTALL) -p -m 644 "lua/$$f" "$(DESTDIR)$(LUADIR)/$$f" || exit 1; \
	done
	$(INSTALL) -d '$(DESTDIR)$(INCDIR)' '$(DESTDIR)$(CLIBDIR)' '$(DESTDIR)$(PKGCONFIGDIR)'
	$(INSTALL) -m 644 src/rivulet.h '$(DESTDIR)$(INCDIR)/rivulet.h'
	$(INSTALL) -m 644 $(LIB_A) '$(DESTDIR)$(CLIBDIR)/librivulet.a'
	$(INSTALL) -m 755 $(LIB_SO) '$(DESTDIR)$(CLIBDIR)/librivulet.so'
	$(call write_pc,'$(DESTDIR)$(PKGCONFIGDIR)/rivulet.pc')
	@# a dir ld.so searches by itself: refresh its cache so programs linked without the rpath
	@# find the new library (root, no DESTDIR; any other dir is left to the rpath)
	$(if $(filter $(abspath $(CLIBDIR)),$(LDCONFIG_DIRS)),@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ]; then \
	  for l in $(LDCONFIG); do command -v $$l >/dev/null 2>&1 && { $$l; break; }; done; fi)
	@# a LUADIR stock lua5.4 does not search (any PREFIX but /usr and /usr/local): say how
	@case "$$(env -u LUA_PATH -u LUA_PATH_5_4 $(LUA) -e 'io.write(package.path)' 2>/dev/null)" in \
	  *'$(LUADIR)/?.lua'*) ;; \
	  *) echo "make install: for stock $(LUA) to find the modules: eval \"\$$($(BINDIR)/rivulet env)\"" ;; esac

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/rivulet' '$(DESTDIR)$(LIBDIR)/rivulet/core.so' \
	  '$(DESTDIR)$(INCDIR)/rivulet.h' '$(DESTDIR)$(CLIBDIR)/librivulet.a' \
	  '$(DESTDIR)$(CLIBDIR)/librivulet.so' '$(DESTDIR)$(PKGCONFIGDIR)/rivulet.pc'
	rmdir '$(DESTDIR)$(LIBDIR)/rivulet' 2>/dev/null || true
	rm -rf '$(DESTDIR)$(LUADIR)/rivulet'

clean:
	rm -rf build build-asan

-include $(wildcard $(OBJDIR)/*.d $(B)/c/*.d $(FUZZ_DIR)/obj/*.d)
