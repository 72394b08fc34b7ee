# Runs one example program and checks what it printed.
#
#   cmake -DPROGRAM=<path> -DN=<int> -DDELAY=<seconds> -DLIMIT=<int>
#         -DMODE=<sequential|parallel> -P check_example.cmake
#
# The program must exit with status 0 and print:
#   - the N x N grid of i*N+j, one row a line, numbers separated by single
#     spaces (the lines made only of integers, in order, must be exactly
#     that grid; other lines such as "Calculating..." are free);
#   - a line "Time taken: S", S in seconds, where for a total sequential
#     time T = N*N*DELAY:
#       sequential:  S >= 0.9 * T
#       parallel:    S >= 0.9 * T / LIMIT  (never more than LIMIT at once)
#                    S <  0.6 * T          (clearly faster than sequential)
#   - no other line twice (text printed before a fork printed again).
#
# Times are compared in whole microseconds: CMake's if() and math() only
# handle integers, so decimal strings are converted by string parsing.

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS PROGRAM N DELAY LIMIT MODE)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_example.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(sequential|parallel)$")
  message(FATAL_ERROR "check_example.cmake: MODE must be sequential or parallel, not '${MODE}'")
endif()
if(NOT N MATCHES "^[1-9][0-9]*$" OR NOT LIMIT MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "check_example.cmake: N and LIMIT must be positive integers")
endif()

# <out> = the decimal string <value> ("1", "0.1", "2.345678", ".5") in whole
# microseconds, digits beyond the sixth decimal dropped.
function(decimal_to_microseconds value out)
  # (The capturing match comes last: every MATCHES resets CMAKE_MATCH_<n>.)
  if(value MATCHES "^\\.?$" OR NOT value MATCHES "^([0-9]*)(\\.([0-9]*))?$")
    message(FATAL_ERROR "check_example.cmake: '${value}' is not a decimal number of seconds")
  endif()
  set(whole "${CMAKE_MATCH_1}")
  set(fraction "${CMAKE_MATCH_3}000000")
  string(SUBSTRING "${fraction}" 0 6 fraction)
  # No leading zeros for math(): "0000100" -> "100".
  string(REGEX REPLACE "^0+([0-9])" "\\1" fraction "${fraction}")
  string(REGEX REPLACE "^0+" "" whole "${whole}")
  if(whole STREQUAL "")
    set(whole 0)
  endif()
  math(EXPR result "${whole} * 1000000 + ${fraction}")
  set(${out} ${result} PARENT_SCOPE)
endfunction()

decimal_to_microseconds("${DELAY}" delay_us)

execute_process(
  COMMAND "${PROGRAM}" --N ${N} --delay ${DELAY} --limit ${LIMIT}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  TIMEOUT 50)

# Fails the test with <reason>, after showing what the program printed.
function(fail reason)
  message(NOTICE
    "command: ${PROGRAM} --N ${N} --delay ${DELAY} --limit ${LIMIT}\n"
    "exit status: ${status}\n"
    "--- stdout ---\n${output}--- stderr ---\n${errors}--- end ---")
  message(FATAL_ERROR "${reason}")
endfunction()

if(NOT status STREQUAL "0")
  fail("example failed: exit status ${status}")
endif()

# Split the output into lines. Semicolons would split list elements, and
# square brackets would protect them from splitting: neither belongs in the
# output, so replace them before splitting.
string(REGEX REPLACE "[][;]" "?" lines "${output}")
string(REPLACE "\r" "" lines "${lines}")
string(REPLACE "\n" ";" lines "${lines}")

# The expected grid: row i holds i*N .. i*N+N-1.
set(expected_rows "")
math(EXPR last_row "${N} - 1")
foreach(i RANGE ${last_row})
  math(EXPR first "${i} * ${N}")
  math(EXPR last "${first} + ${N} - 1")
  set(row "")
  foreach(value RANGE ${first} ${last})
    if(row STREQUAL "")
      set(row "${value}")
    else()
      string(APPEND row " ${value}")
    endif()
  endforeach()
  list(APPEND expected_rows "${row}")
endforeach()

set(rows "")
set(time_lines "")
set(seen "")
foreach(line IN LISTS lines)
  if(line MATCHES "^-?[0-9]+( -?[0-9]+)*$")
    list(APPEND rows "${line}")
  else()
    if(line MATCHES "^Time taken: (.*)$")
      list(APPEND time_lines "${CMAKE_MATCH_1}")
    endif()
    if(NOT line STREQUAL "")
      list(FIND seen "${line}" index)
      if(NOT index EQUAL -1)
        fail("example printed '${line}' more than once (output copied by a fork?)")
      endif()
      list(APPEND seen "${line}")
    endif()
  endif()
endforeach()

if(NOT rows STREQUAL expected_rows)
  string(REPLACE ";" "\n" expected_text "${expected_rows}")
  string(REPLACE ";" "\n" rows_text "${rows}")
  message(NOTICE "expected grid:\n${expected_text}\ngrid printed:\n${rows_text}")
  fail("example printed the wrong grid")
endif()

list(LENGTH time_lines time_count)
if(NOT time_count EQUAL 1)
  fail("example must print one 'Time taken: S' line, printed ${time_count}")
endif()
if(NOT time_lines MATCHES "^[0-9]*(\\.[0-9]*)?$" OR time_lines MATCHES "^\\.?$")
  fail("example printed 'Time taken: ${time_lines}', not a decimal number of seconds")
endif()
decimal_to_microseconds("${time_lines}" taken_us)

# Compare 10 * S with 9 * T (0.9), 9 * T / LIMIT and 6 * T (0.6).
math(EXPR sequential_us "${N} * ${N} * ${delay_us}")
math(EXPR taken_x10 "${taken_us} * 10")
math(EXPR at_least_x10 "${sequential_us} * 9")
if(MODE STREQUAL "parallel")
  math(EXPR at_least_x10 "${at_least_x10} / ${LIMIT}")
endif()
math(EXPR below_x10 "${sequential_us} * 6")

if(taken_x10 LESS at_least_x10)
  if(MODE STREQUAL "sequential")
    set(why "a sequential run of ${N}x${N} cells of ${DELAY} s cannot take less than 0.9 * ${sequential_us} us")
  else()
    set(why "with at most ${LIMIT} processes at once, ${N}x${N} cells of ${DELAY} s cannot take less than 0.9 * ${sequential_us} us / ${LIMIT} (more processes than the limit?)")
  endif()
  fail("example was too fast: ${taken_us} us; ${why}")
endif()
if(MODE STREQUAL "parallel" AND NOT taken_x10 LESS below_x10)
  fail("example was not clearly faster than sequential: ${taken_us} us, expected under 0.6 * ${sequential_us} us")
endif()

message(STATUS "${PROGRAM}: grid OK, ${MODE} timing OK (${taken_us} us)")
