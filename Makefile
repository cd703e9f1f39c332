# rotator: build, run, test, benchmark. See README.md.

CC       ?= gcc
BUILD    ?= build
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
PKGS     := libh2o-evloop libjwt jansson libargon2 sqlite3 uuid openssl libpq
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DROTATOR_VERSION='"$(VERSION)"' \
            -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
            -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Isrc -I$(BUILD)/gen \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

CORE_SRC := $(filter-out src/main.c,$(wildcard src/*/*.c))
# Each backend's migrations, src/store/migrations/<backend>/NNN_name.sql, compiled in as the
# array <backend>_migrations.
BACKENDS := sqlite postgres
GEN_SRC  := $(BACKENDS:%=$(BUILD)/gen/%_migrations.c)
GEN_OBJ  := $(GEN_SRC:.c=.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(GEN_OBJ)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all build run test unit e2e bench sanitize deps format format-check clean

all: build
build: $(BUILD)/rotator

deps:
	./scripts/install-deps.sh

$(BUILD)/rotator: $(BUILD)/src/main.o $(CORE_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Kept after the build, for reading.
.SECONDARY: $(GEN_SRC)

# Secondary expansion lets the prerequisites name the backend ($$*) of the file being made.
.SECONDEXPANSION:
$(BUILD)/gen/%_migrations.c: scripts/embed-sql.sh \
                             $$(sort $$(wildcard src/store/migrations/$$*/*.sql))
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@./scripts/embed-sql.sh $*_migrations $(filter %.sql,$^) > $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -Itests/unit -o $@ $< $(CORE_OBJ) $(LDLIBS) -lcmocka

# `make run`: install what is missing, build, and serve on 127.0.0.1:8080 with var/rotator.db.
run: deps build
	@mkdir -p var
	$(BUILD)/rotator serve

# `make test`: unit tests, then the end-to-end suite against the real binary.
test: deps build format-check $(UNIT_BIN)
	./tests/run.sh

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

bench: deps build
	./bench/run.sh

# `make sanitize`: the unit and end-to-end tests against a build with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report stops the process and fails the test that hit it.
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
sanitize: deps
	$(MAKE) BUILD=build-asan CFLAGS="$(SANITIZE_FLAGS)" build-asan/rotator \
		$(UNIT_SRC:tests/unit/%.c=build-asan/tests/%)
	@for t in $(UNIT_SRC:tests/unit/%.c=build-asan/tests/%); do $$t >/dev/null || exit 1; done
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ROTATOR_BIN=$(CURDIR)/build-asan/rotator python3 tests/e2e/run.py

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]')

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
