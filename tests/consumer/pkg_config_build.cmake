# Builds and runs tests/consumer/main.cpp with the compiler flags that
# pkg-config gives for the staged install. Arguments: PREFIX, LIBDIR, SOURCE,
# BINARY, COMPILER.
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
execute_process(COMMAND pkg-config --cflags --libs pprocess
  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know pprocess under ${PREFIX}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${COMPILER} ${SOURCE} -o ${BINARY} ${flags}
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "compiling with pkg-config flags (${flags}) failed")
endif()
execute_process(COMMAND ${BINARY} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "the pkg-config consumer failed")
endif()
