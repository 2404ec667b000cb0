# crosstalk - top-level commands. Each installs what is missing first.
#   make demo   private stack under ./var with two demo apps; Ctrl-C stops
#   make test   the whole suite through ctest, plain and ASan+UBSan builds
#   make bench  benchmarks side by side with peers -> bench/RESULTS.md
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-plain test-asan demo bench fuzz soak deb clean format

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

test:
	@scripts/deps.sh core browser fuzz
	@$(MAKE) --no-print-directory build build-asan
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

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

fuzz:
	@scripts/deps.sh core fuzz
	@scripts/fuzz.sh $${FUZZ_SECONDS:-60}

soak: build
	@scripts/soak.sh $(BUILD)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
