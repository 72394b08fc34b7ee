# GCC's libbacktrace, for file:line in crash reports (src/symbolize.cpp).
# Debian ships it in libgcc-<n>-dev, in GCC's private directory, with no
# package of its own: ask the compiler where it is. Without it, crash
# reports name functions from the dynamic symbol table only.
#
# Sets PPROCESS_LIBBACKTRACE to the archive's path, or empty.
option(PPROCESS_USE_LIBBACKTRACE "Symbolize crash reports with GCC's libbacktrace" ON)
set(PPROCESS_LIBBACKTRACE "")
if(PPROCESS_USE_LIBBACKTRACE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libbacktrace.a
    OUTPUT_VARIABLE pprocess_backtrace_lib
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=include/backtrace.h
    OUTPUT_VARIABLE pprocess_backtrace_header
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  # -print-file-name echoes the name back when it finds nothing.
  if(IS_ABSOLUTE "${pprocess_backtrace_lib}" AND EXISTS "${pprocess_backtrace_lib}"
     AND IS_ABSOLUTE "${pprocess_backtrace_header}" AND EXISTS "${pprocess_backtrace_header}")
    set(PPROCESS_LIBBACKTRACE "${pprocess_backtrace_lib}")
    get_filename_component(pprocess_backtrace_include "${pprocess_backtrace_header}" DIRECTORY)
    # -idirafter: GCC's private directory also holds its own stddef.h and
    # the like, which must not come before the usual ones.
    set_source_files_properties(src/symbolize.cpp PROPERTIES
      COMPILE_DEFINITIONS PPROCESS_HAVE_LIBBACKTRACE=1
      COMPILE_OPTIONS "-idirafter;${pprocess_backtrace_include}")
    # PRIVATE, but pprocess is a static library by default: CMake then
    # exports it as $<LINK_ONLY:...> for consumers to link, and the
    # pkg-config file lists it (cmake/install-rules.cmake).
    target_link_libraries(pprocess PRIVATE "${PPROCESS_LIBBACKTRACE}")
    message(STATUS "Crash reports symbolized with ${PPROCESS_LIBBACKTRACE}")
  else()
    message(STATUS "libbacktrace not found: crash reports name functions only")
  endif()
endif()
