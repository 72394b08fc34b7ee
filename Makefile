# Thin wrapper over CMake presets. On a fresh Debian machine each target does
# the whole set-up: scripts/install-deps installs what is missing.

JOBS ?= $(shell nproc)

.PHONY: all deps build release test asan demo bench fuzz soak format clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

# The release preset, built whole and installed (into build/release/stage)
# as README.md tells users to: optimized builds warn where debug builds do
# not, and with warnings as errors that fails the user's build.
release: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)
	rm -rf build/release/stage
	cmake --install build/release --prefix build/release/stage

# Both builds first, so that nothing compiles while the tests (some of them
# timed) run.
test: build release
	ctest --preset dev -j $(JOBS)

# The tests under AddressSanitizer and UndefinedBehaviorSanitizer (the fuzz,
# install and layout checks have their own builds and are left out).
asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -E "^(fuzz|install|lint)[.]"

demo: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target raytrace_sequential raytrace_pmap
	scripts/demo build/release

# Benchmarks next to the raw limits and Python's multiprocessing; writes
# docs/performance.md and its plots. BENCH_REPETITIONS=1 is quicker, noisier.
BENCH_REPETITIONS ?= 3
BENCH_RESULTS = build/bench/results
# pprocess::mpi's benchmark (built with the component) and its mpi4py peer.
# mpirun refuses to run as root without both variables. --bind-to none: the
# default binding would give each rank one core. mpi4py is Debian's
# python3-mpi4py, installed for the system Python only.
MPI_BENCH = build/bench/bench/mpi_bench
MPIRUN ?= mpirun
MPIRUN_BENCH = OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  $(MPIRUN) --oversubscribe --bind-to none
MPI4PY_PYTHON ?= /usr/bin/python3
# The raw limits, pprocess and the Python peers take turns, one repetition
# each, so that a change in the machine's load falls on all of them alike;
# then pprocess::mpi over 1, 2 and 3 ranks, each next to mpi4py on the same
# mpirun line.
bench: deps
	rm -rf $(BENCH_RESULTS)
	mkdir -p $(BENCH_RESULTS)
	date +%s > $(BENCH_RESULTS)/started
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS)
	@if [ -x $(MPI_BENCH) ] && ! $(MPI4PY_PYTHON) -c 'import mpi4py.futures' 2>/dev/null; then \
	  echo "make bench: no mpi4py for $(MPI4PY_PYTHON): pprocess::mpi runs without its peer"; \
	fi
	for rep in $$(seq $(BENCH_REPETITIONS)); do \
	  for topic in raw pprocess; do \
	    build/bench/bench/$${topic}_bench --benchmark_out_format=json \
	      --benchmark_out=$(BENCH_RESULTS)/$$topic-$$rep.json || exit 1; \
	  done; \
	  python3 bench/peers.py --reps 1 --out $(BENCH_RESULTS)/peers-$$rep.json || exit 1; \
	  if [ -x $(MPI_BENCH) ]; then \
	    for np in 1 2 3; do \
	      $(MPIRUN_BENCH) -np $$np $(MPI_BENCH) \
	        --out $(BENCH_RESULTS)/mpi-np$$np-$$rep.json || exit 1; \
	      if [ $$np -gt 1 ] && $(MPI4PY_PYTHON) -c 'import mpi4py.futures' 2>/dev/null; then \
	        $(MPIRUN_BENCH) -np $$np $(MPI4PY_PYTHON) -m mpi4py.futures \
	          bench/mpi4py_peer.py --out $(BENCH_RESULTS)/mpi4py-np$$np-$$rep.json || exit 1; \
	      fi; \
	    done; \
	  fi; \
	done
	python3 bench/report.py $(BENCH_RESULTS) docs/performance.md

# Fuzzes the frame decoder of persistent channels; FUZZ_SECONDS=600 by default.
FUZZ_SECONDS ?= 600
fuzz: deps
	cmake -S fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/fuzz -j $(JOBS)
	cmake -DBINARY_DIR=$(CURDIR)/build/fuzz -DSECONDS=$(FUZZ_SECONDS) -P fuzz/run.cmake

# The fault storms of the stress tests (label `stress`), round after round
# with other seeds, a report a minute; fails on a wrong result, a descriptor
# or child left behind, or RSS growing. SOAK_MINUTES=10 by default. Not in CI;
# see docs/testing.md.
SOAK_MINUTES ?= 10
soak: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS) --target pprocess_soak
	build/dev/tests/pprocess_soak --minutes $(SOAK_MINUTES)

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf build
