# Front door. `make demo` and `make test` are the two commands the README promises.
BUILD ?= build
BUILD_RELEASE ?= build-release
CMAKE ?= cmake
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all demo test bench bench-smoke docs install-test verify test-asan test-tsan test-valgrind aarch64 windows soak clean

all: test

$(BUILD_RELEASE)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release -DFIBERJOB_WERROR=ON

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIBERJOB_WERROR=ON

demo: $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_RELEASE) -j$(JOBS) --target fiberjob-demo
	./$(BUILD_RELEASE)/fiberjob-demo $(DEMO_ARGS)

test: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest $(CTEST_FLAGS)

bench: $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_RELEASE) -j$(JOBS)
	bash bench/run.sh $(BUILD_RELEASE)

bench-smoke: $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_RELEASE) -j$(JOBS)
	bash bench/run.sh $(BUILD_RELEASE) --smoke

verify:
	bash verify/run.sh

docs:
	bash tools/docs.sh

# Install into a temporary prefix and build a consumer with find_package and pkg-config.
install-test:
	bash tests/install/run.sh

aarch64:
	bash tools/aarch64.sh $(BUILD)-aarch64

# Windows x64: mingw-w64 cross-build, demo, examples and tests under Wine
# (docs/windows.md; FJ_WINDOWS_TESTS=0 builds without the tests).
windows:
	bash tools/windows.sh $(BUILD)-windows

# Randomized soak: SOAK_SECONDS (default 60) and SOAK_SEED (default: from the clock).
soak: $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_RELEASE) -j$(JOBS) --target fiberjob-soak
	./$(BUILD_RELEASE)/tests/soak/fiberjob-soak --seconds $${SOAK_SECONDS:-60} $${SOAK_SEED:+--seed $$SOAK_SEED}

test-asan:
	bash tools/sanitize.sh address $(BUILD)-asan

test-tsan:
	bash tools/sanitize.sh thread $(BUILD)-tsan

test-valgrind:
	bash tools/valgrind.sh $(BUILD)-valgrind

clean:
	rm -rf $(BUILD) $(BUILD_RELEASE) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-valgrind $(BUILD)-aarch64 $(BUILD)-windows
