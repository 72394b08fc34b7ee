# Runs a background example program twice, as the tutorial describes: once
# with --start, which must only start the work in background processes, then
# with --reconnect, which must collect it.
#
#   cmake -DPROGRAM=<path> -DN=<int> -DDELAY=<seconds> -DLIMIT=<int>
#         -DWORK_DIR=<dir> -DSOCKETS=<name>[,<name>...]
#         -P check_background_example.cmake
#
# In WORK_DIR, made afresh (and empty) for the purpose:
#   1. `PROGRAM --start` exits with status 0 in well under a second (its
#      background processes neither keep it waiting nor hold its standard
#      output), prints no grid, and one "Time taken: S" with S under the
#      time the computation takes (0.9 * N*N*DELAY / LIMIT);
#   2. each of SOCKETS (names relative to WORK_DIR) is then a socket;
#   3. `PROGRAM --reconnect` exits with status 0 and prints the N x N grid as
#      check_example.cmake requires it, and no line twice; from the start of
#      the first run to the end of the second took at least the time of the
#      computation (no more than LIMIT processes at once);
#   4. within 2 s, the sockets are gone (the background processes remove
#      them once they have delivered everything);
#   5. within 2 s, no process of PROGRAM is left running in WORK_DIR.
# On failure, what the runs printed is shown, and the processes of PROGRAM
# left in WORK_DIR are sent SIGTERM.

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS PROGRAM N DELAY LIMIT WORK_DIR SOCKETS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_background_example.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT N MATCHES "^[1-9][0-9]*$" OR NOT LIMIT MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "check_background_example.cmake: N and LIMIT must be positive integers")
endif()
string(REPLACE "," ";" sockets "${SOCKETS}")

include("${CMAKE_CURRENT_LIST_DIR}/example_output.cmake")

decimal_to_microseconds("${DELAY}" delay_us)
# The shortest time the computation can take with LIMIT processes at once,
# with the same 10% margin as check_example.cmake.
math(EXPR computation_us "${N} * ${N} * ${delay_us} * 9 / (10 * ${LIMIT})")
set(arguments --N ${N} --delay ${DELAY} --limit ${LIMIT})
list(JOIN arguments " " arguments_text)

# <out> = now, in microseconds since the epoch (%f: CMake >= 3.23).
function(now_us out)
  string(TIMESTAMP now "%s%f" UTC)
  set(${out} ${now} PARENT_SCOPE)
endfunction()

# <out> = the pids of the processes running PROGRAM (the command line starts
# with its path) whose working directory is WORK_DIR: only this test's.
function(find_leftovers out)
  string(REGEX REPLACE "([][.*+?^$(){}|\\])" "\\\\\\1" pattern "${PROGRAM}")
  execute_process(
    COMMAND pgrep -f "^${pattern}( |$)"
    OUTPUT_VARIABLE pids
    ERROR_QUIET
    RESULT_VARIABLE status)
  string(REGEX REPLACE "[ \t\r\n]+" ";" pids "${pids}")
  set(found "")
  foreach(pid IN LISTS pids)
    if(pid STREQUAL "")
      continue()
    endif()
    execute_process(
      COMMAND readlink "/proc/${pid}/cwd"
      OUTPUT_VARIABLE cwd
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET
      RESULT_VARIABLE status)
    if(status EQUAL 0 AND cwd STREQUAL "${WORK_DIR}")
      list(APPEND found ${pid})
    endif()
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# The outputs of the runs so far, shown on failure.
set(report "")

# report_run(<command> <status> <stdout> <stderr>): adds a run to the report.
function(report_run command status stdout stderr)
  string(APPEND report
    "command: ${command}\n"
    "exit status: ${status}\n"
    "--- stdout ---\n${stdout}--- stderr ---\n${stderr}--- end ---\n")
  set(report "${report}" PARENT_SCOPE)
endfunction()

# Fails the test with <reason>, after showing what the program printed and
# ending the processes it left behind.
function(fail reason)
  message(NOTICE "working directory: ${WORK_DIR}\n${report}")
  find_leftovers(leftovers)
  if(leftovers)
    message(NOTICE "sending SIGTERM to the processes left: ${leftovers}")
    execute_process(COMMAND kill -TERM ${leftovers} ERROR_QUIET)
  endif()
  message(FATAL_ERROR "${reason}")
endfunction()

# A fresh, empty working directory: the sockets go there.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# 1. --start: only starts the work. The background processes must not hold
# its standard output, or capturing it would wait for them until TIMEOUT.
now_us(started_us)
execute_process(
  COMMAND "${PROGRAM}" --start ${arguments}
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  TIMEOUT 10)
now_us(start_returned_us)
report_run("${PROGRAM} --start ${arguments_text}" "${status}" "${output}" "${errors}")
math(EXPR start_took_us "${start_returned_us} - ${started_us}")

if(NOT status STREQUAL "0")
  fail("--start failed: exit status ${status} (after ${start_took_us} us)")
endif()
if(NOT start_took_us LESS 1000000)
  fail("--start took ${start_took_us} us: it must return at once, not wait for the background processes")
endif()
example_read_output("${output}")
if(NOT EXAMPLE_ROWS STREQUAL "")
  fail("--start printed grid lines: it must only start the work")
endif()
if(NOT EXAMPLE_DUPLICATE STREQUAL "")
  fail("--start printed '${EXAMPLE_DUPLICATE}' more than once (output copied by a fork?)")
endif()
example_time_taken(taken_us error)
if(NOT error STREQUAL "")
  fail("--start: ${error}")
endif()
if(NOT taken_us LESS computation_us)
  fail("--start reported ${taken_us} us: it must not wait for the computation (at least ${computation_us} us)")
endif()

# 2. The background processes listen on their sockets.
foreach(socket IN LISTS sockets)
  execute_process(COMMAND test -S "${WORK_DIR}/${socket}" RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    file(GLOB files RELATIVE "${WORK_DIR}" "${WORK_DIR}/*")
    fail("after --start, ${socket} is not a socket in the working directory (it holds: ${files})")
  endif()
endforeach()

# 3. --reconnect: collects the whole grid.
execute_process(
  COMMAND "${PROGRAM}" --reconnect ${arguments}
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  TIMEOUT 40)
now_us(reconnect_returned_us)
report_run("${PROGRAM} --reconnect ${arguments_text}" "${status}" "${output}" "${errors}")
math(EXPR both_took_us "${reconnect_returned_us} - ${started_us}")

if(NOT status STREQUAL "0")
  fail("--reconnect failed: exit status ${status}")
endif()
example_check_output("${output}" taken_us error)
if(NOT error STREQUAL "")
  fail("--reconnect: ${error}")
endif()
if(both_took_us LESS computation_us)
  fail("both runs took ${both_took_us} us: with at most ${LIMIT} processes at once, ${N}x${N} cells of ${DELAY} s take at least ${computation_us} us (more processes than the limit?)")
endif()

# 4. and 5. The background processes clean up after themselves and end.
now_us(deadline_us)
math(EXPR deadline_us "${deadline_us} + 2000000")
while(TRUE)
  set(present "")
  foreach(socket IN LISTS sockets)
    if(EXISTS "${WORK_DIR}/${socket}")
      list(APPEND present "${socket}")
    endif()
  endforeach()
  now_us(now)
  if(NOT present OR now GREATER deadline_us)
    break()
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.1)
endwhile()
if(present)
  fail("2 s after --reconnect, the sockets ${present} are still there")
endif()

now_us(deadline_us)
math(EXPR deadline_us "${deadline_us} + 2000000")
while(TRUE)
  find_leftovers(leftovers)
  now_us(now)
  if(NOT leftovers OR now GREATER deadline_us)
    break()
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.1)
endwhile()
if(leftovers)
  fail("2 s after --reconnect, processes of the program still run: ${leftovers}")
endif()

message(STATUS "${PROGRAM}: --start returned in ${start_took_us} us; "
               "--reconnect grid OK; both runs ${both_took_us} us; "
               "sockets removed, no process left")
