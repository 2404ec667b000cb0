# crosstalk - top-level commands. Each installs what is missing first.
#   make demo   private stack under ./var with two demo apps; Ctrl-C stops
#   make test   the whole suite through ctest, plain and ASan+UBSan builds,
#               crosstalk-fcgi's threaded paths under ThreadSanitizer
#   make bench  benchmarks side by side with peers -> bench/RESULTS.md
#   make deb    Debian package -> $(DEB_BUILD)/crosstalk_<version>_amd64.deb
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
DEB_BUILD  ?= build-deb
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=


.PHONY: all deps build build-asan build-tsan build-fuzz test test-plain test-asan demo bench fuzz soak deb clean format

all: build

deps:
	@scripts/deps.sh core

build: deps
	@cmake -S . -B $(BUILD) -DCT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCT_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCT_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# ThreadSanitizer: crosstalk-fcgi is the threaded program (group commit,
# shared long-polls, the NOTIFY listener); its tests run in this build too
build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCT_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCT_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

build-fuzz: deps
	@scripts/deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCT_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCT_SANITIZE=address,undefined -DCT_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

test:
	@scripts/deps.sh core browser fuzz
	@$(MAKE) --no-print-directory build build-asan build-tsan build-fuzz
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD) \
		'$(TSAN_BUILD)=^(stack_up|stack_down|http_api|http_batch|http_longpoll|http_concurrency|http_ws_bridge|integ_metrics)$$' \
		$(FUZZ_BUILD)

test-plain: build
	@scripts/run-tests.sh $(BUILD)

test-asan: build-asan
	@scripts/run-tests.sh $(ASAN_BUILD)

demo: build
	@scripts/deps.sh core browser
	@scripts/demo.sh $(BUILD)

bench:
	@scripts/deps.sh core bench
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)

fuzz: build-fuzz
	@CT_FUZZ_SECONDS=$${FUZZ_SECONDS:-60} ctest --test-dir $(FUZZ_BUILD) -L fuzz --output-on-failure

# Debian's build flags (all hardening on), no -Werror: a release build
# must not fail on a new compiler's warnings.
deb: export DEB_BUILD_MAINT_OPTIONS = hardening=+all
# only what a package build needs (compiler, -dev packages, dpkg-dev):
# no database or web server lands on the build machine; root only to
# install what is missing
deb:
	@scripts/deps.sh deb
	@cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_C_FLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$$(dpkg-buildflags --get LDFLAGS)" $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(DEB_BUILD) -j $(JOBS) --target crosstalk-fcgi crosstalk-wsd crosstalkctl >/dev/null
	@cd $(DEB_BUILD) && cpack -G DEB >/dev/null
	@ls $(DEB_BUILD)/crosstalk_*.deb

soak: build
	@scripts/soak.sh $(BUILD)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
