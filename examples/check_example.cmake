# Runs one example program and checks what it printed.
#
#   cmake -DPROGRAM=<path> -DN=<int> -DDELAY=<seconds> -DLIMIT=<int>
#         -DMODE=<sequential|parallel> [-DLAUNCHER=<word>|<word>...]
#         [-DPROCESSES=<int>] -P check_example.cmake
#
# LAUNCHER, if given, is the command that runs the program (mpirun and its
# options, for the MPI twins), its words separated by '|': -D would split a
# ';'-separated list into several arguments. PROCESSES is the most processes
# that can run at once over the whole run (for an MPI job: ranks * LIMIT),
# LIMIT by default.
#
# The program must exit with status 0 and print:
#   - the N x N grid of i*N+j, one row a line, numbers separated by single
#     spaces (the lines made only of integers, in order, must be exactly
#     that grid; other lines such as "Calculating..." are free);
#   - a line "Time taken: S", S in seconds, where for a total sequential
#     time T = N*N*DELAY:
#       sequential:  S >= 0.9 * T
#       parallel:    S >= 0.9 * T / PROCESSES  (never more at once)
#                    S <  0.6 * T              (clearly faster than sequential)
#   - no other line twice (text printed before a fork printed again).
#
# Times are compared in whole microseconds (see example_output.cmake).

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS PROGRAM N DELAY LIMIT MODE)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_example.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(sequential|parallel)$")
  message(FATAL_ERROR "check_example.cmake: MODE must be sequential or parallel, not '${MODE}'")
endif()
if(NOT DEFINED PROCESSES OR PROCESSES STREQUAL "")
  set(PROCESSES ${LIMIT})
endif()
if(NOT N MATCHES "^[1-9][0-9]*$" OR NOT LIMIT MATCHES "^[1-9][0-9]*$"
   OR NOT PROCESSES MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "check_example.cmake: N, LIMIT and PROCESSES must be positive integers")
endif()
string(REPLACE "|" ";" launcher "${LAUNCHER}")
string(REPLACE "|" " " launcher_text "${LAUNCHER}")

include("${CMAKE_CURRENT_LIST_DIR}/example_output.cmake")

decimal_to_microseconds("${DELAY}" delay_us)

execute_process(
  COMMAND ${launcher} "${PROGRAM}" --N ${N} --delay ${DELAY} --limit ${LIMIT}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  TIMEOUT 50)

# Fails the test with <reason>, after showing what the program printed.
function(fail reason)
  message(NOTICE
    "command: ${launcher_text} ${PROGRAM} --N ${N} --delay ${DELAY} --limit ${LIMIT}\n"
    "exit status: ${status}\n"
    "--- stdout ---\n${output}--- stderr ---\n${errors}--- end ---")
  message(FATAL_ERROR "${reason}")
endfunction()

if(NOT status STREQUAL "0")
  fail("example failed: exit status ${status}")
endif()

example_check_output("${output}" taken_us error)
if(NOT error STREQUAL "")
  fail("${error}")
endif()

# Compare 10 * S with 9 * T (0.9), 9 * T / LIMIT and 6 * T (0.6).
math(EXPR sequential_us "${N} * ${N} * ${delay_us}")
math(EXPR taken_x10 "${taken_us} * 10")
math(EXPR at_least_x10 "${sequential_us} * 9")
if(MODE STREQUAL "parallel")
  math(EXPR at_least_x10 "${at_least_x10} / ${PROCESSES}")
endif()
math(EXPR below_x10 "${sequential_us} * 6")

if(taken_x10 LESS at_least_x10)
  if(MODE STREQUAL "sequential")
    set(why "a sequential run of ${N}x${N} cells of ${DELAY} s cannot take less than 0.9 * ${sequential_us} us")
  else()
    set(why "with at most ${PROCESSES} processes at once, ${N}x${N} cells of ${DELAY} s cannot take less than 0.9 * ${sequential_us} us / ${PROCESSES} (more processes than the limit?)")
  endif()
  fail("example was too fast: ${taken_us} us; ${why}")
endif()
if(MODE STREQUAL "parallel" AND NOT taken_x10 LESS below_x10)
  fail("example was not clearly faster than sequential: ${taken_us} us, expected under 0.6 * ${sequential_us} us")
endif()

message(STATUS "${PROGRAM}: grid OK, ${MODE} timing OK (${taken_us} us)")
