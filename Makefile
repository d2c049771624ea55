# Front door. `make demo` and `make test` are the two commands the README promises.
BUILD ?= build
BUILD_RELEASE ?= build-release
CMAKE ?= cmake
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all demo test bench verify test-asan test-tsan test-valgrind clean

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

verify:
	bash verify/run.sh

test-asan:
	bash tools/sanitize.sh address $(BUILD)-asan

test-tsan:
	bash tools/sanitize.sh thread $(BUILD)-tsan

test-valgrind: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j$(JOBS)
	bash tools/valgrind.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_RELEASE) $(BUILD)-asan $(BUILD)-tsan
