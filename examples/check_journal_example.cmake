# Runs journaled_pmap twice in a fresh directory: the first run computes
# every cell and keeps the results in its journal, the second takes them all
# from there and computes nothing.
#
#   cmake -DPROGRAM=<path> -DN=<int> -DDELAY=<seconds> -DLIMIT=<int>
#         -DWORK_DIR=<dir> -P check_journal_example.cmake
#
# Each run must exit with status 0 and print the N x N grid (as
# check_example.cmake requires it) and no line twice; the first must print
# "Computed: N*N, from the journal: 0", the second "Computed: 0, from the
# journal: N*N".

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS PROGRAM N DELAY LIMIT WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_journal_example.cmake: -D${var}=... is required")
  endif()
endforeach()

include("${CMAKE_CURRENT_LIST_DIR}/example_output.cmake")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
math(EXPR cells "${N} * ${N}")

foreach(run IN ITEMS first second)
  execute_process(
    COMMAND "${PROGRAM}" --N ${N} --delay ${DELAY} --limit ${LIMIT}
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE status
    OUTPUT_VARIABLE output
    ERROR_VARIABLE errors
    TIMEOUT 30)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${run} run: exit status ${status}\n${output}${errors}")
  endif()
  example_read_output("${output}")
  example_check_grid(${N} grid_error)
  if(grid_error)
    message(FATAL_ERROR "${run} run: ${grid_error}\n${output}")
  endif()
  if(NOT EXAMPLE_DUPLICATE STREQUAL "")
    message(FATAL_ERROR "${run} run printed twice: ${EXAMPLE_DUPLICATE}\n${output}")
  endif()
  if(run STREQUAL "first")
    set(expected "Computed: ${cells}, from the journal: 0")
  else()
    set(expected "Computed: 0, from the journal: ${cells}")
  endif()
  string(FIND "${output}" "${expected}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${run} run: expected '${expected}'\n${output}")
  endif()
endforeach()
if(NOT EXISTS "${WORK_DIR}/journaled_pmap.journal")
  message(FATAL_ERROR "no journal in ${WORK_DIR}")
endif()
