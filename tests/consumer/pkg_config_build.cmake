# Builds and runs a consumer program with the compiler flags that pkg-config
# gives for the staged install. Arguments: PREFIX, LIBDIR, SOURCE, BINARY,
# COMPILER; optional: PACKAGE, the pkg-config package (pprocess by default),
# and LAUNCHER, the command that runs the program (mpirun and its options),
# its words separated by '|' (-D would split a ';'-separated list).
if(NOT DEFINED PACKAGE OR PACKAGE STREQUAL "")
  set(PACKAGE pprocess)
endif()
string(REPLACE "|" ";" launcher "${LAUNCHER}")
# Searched before pkg-config's own directories, where the packages pprocess's
# require (mpi-c for pprocess-mpi) come from.
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
execute_process(COMMAND pkg-config --cflags --libs ${PACKAGE}
  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know ${PACKAGE} under ${PREFIX}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${COMPILER} ${SOURCE} -o ${BINARY} ${flags}
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "compiling with pkg-config flags (${flags}) failed")
endif()
execute_process(COMMAND ${launcher} ${BINARY} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "the pkg-config consumer failed")
endif()
