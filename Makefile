# Thin wrapper over CMake presets. On a fresh Debian machine each target does
# the whole set-up: scripts/install-deps installs what is missing.

JOBS ?= $(shell nproc)

.PHONY: all deps build test demo bench format clean

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

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf build
