# Thin wrapper over CMake presets. On a fresh Debian machine each target does
# the whole set-up: scripts/install-deps installs what is missing.

JOBS ?= $(shell nproc)

.PHONY: all deps build test demo fuzz format clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

test: build
	ctest --preset dev -j $(JOBS)

demo: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target simple_managed_map simple1
	scripts/demo build/release

# Fuzzes the frame decoder of persistent channels; FUZZ_SECONDS=600 by default.
FUZZ_SECONDS ?= 600
fuzz: deps
	cmake -S fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/fuzz -j $(JOBS)
	cmake -DBINARY_DIR=$(CURDIR)/build/fuzz -DSECONDS=$(FUZZ_SECONDS) -P fuzz/run.cmake

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf build
