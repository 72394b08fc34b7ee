# Reading what an example program printed: included by check_example.cmake
# and check_background_example.cmake.
#
# Times are handled in whole microseconds: CMake's if() and math() only
# handle integers, so decimal strings are converted by string parsing.

include_guard(GLOBAL)

# decimal_to_microseconds(<value> <out>)
#
# <out> = the decimal string <value> ("1", "0.1", "2.345678", ".5") in whole
# microseconds, digits beyond the sixth decimal dropped.
function(decimal_to_microseconds value out)
  # (The capturing match comes last: every MATCHES resets CMAKE_MATCH_<n>.)
  if(value MATCHES "^\\.?$" OR NOT value MATCHES "^([0-9]*)(\\.([0-9]*))?$")
    message(FATAL_ERROR "'${value}' is not a decimal number of seconds")
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

# example_expected_grid(<N> <out>)
#
# <out> = the list of the N rows of the expected grid: row i holds
# i*N .. i*N+N-1, separated by single spaces.
function(example_expected_grid N out)
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
  set(${out} "${expected_rows}" PARENT_SCOPE)
endfunction()

# example_read_output(<output>)
#
# Splits <output> into lines and sets, in the caller's scope:
#   EXAMPLE_ROWS       the lines made only of integers, in order (the grid);
#   EXAMPLE_TIMES      the S of each line "Time taken: S";
#   EXAMPLE_DUPLICATE  the first other non-empty line printed more than once
#                      (text printed before a fork printed again), or "".
function(example_read_output output)
  # Semicolons would split list elements, and square brackets would protect
  # them from splitting: neither belongs in the output, so replace them
  # before splitting.
  string(REGEX REPLACE "[][;]" "?" lines "${output}")
  string(REPLACE "\r" "" lines "${lines}")
  string(REPLACE "\n" ";" lines "${lines}")

  set(rows "")
  set(times "")
  set(seen "")
  set(duplicate "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^-?[0-9]+( -?[0-9]+)*$")
      list(APPEND rows "${line}")
    else()
      if(line MATCHES "^Time taken: (.*)$")
        list(APPEND times "${CMAKE_MATCH_1}")
      endif()
      if(NOT line STREQUAL "")
        list(FIND seen "${line}" index)
        if(NOT index EQUAL -1 AND duplicate STREQUAL "")
          set(duplicate "${line}")
        endif()
        list(APPEND seen "${line}")
      endif()
    endif()
  endforeach()
  set(EXAMPLE_ROWS "${rows}" PARENT_SCOPE)
  set(EXAMPLE_TIMES "${times}" PARENT_SCOPE)
  set(EXAMPLE_DUPLICATE "${duplicate}" PARENT_SCOPE)
endfunction()

# example_check_grid(<N> <out>)
#
# After example_read_output: <out> = "" when EXAMPLE_ROWS is exactly the
# N x N grid, else the reason why not (and the two grids are shown).
function(example_check_grid N out)
  example_expected_grid(${N} expected_rows)
  if(EXAMPLE_ROWS STREQUAL expected_rows)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  string(REPLACE ";" "\n" expected_text "${expected_rows}")
  string(REPLACE ";" "\n" rows_text "${EXAMPLE_ROWS}")
  message(NOTICE "expected grid:\n${expected_text}\ngrid printed:\n${rows_text}")
  set(${out} "example printed the wrong grid" PARENT_SCOPE)
endfunction()

# example_time_taken(<out> <error>)
#
# After example_read_output: <out> = the one "Time taken: S" in whole
# microseconds, and <error> = "", or <error> = the reason there is none.
function(example_time_taken out error)
  list(LENGTH EXAMPLE_TIMES count)
  if(NOT count EQUAL 1)
    set(${error} "example must print one 'Time taken: S' line, printed ${count}"
        PARENT_SCOPE)
    return()
  endif()
  if(NOT EXAMPLE_TIMES MATCHES "^[0-9]*(\\.[0-9]*)?$"
     OR EXAMPLE_TIMES MATCHES "^\\.?$")
    set(${error}
        "example printed 'Time taken: ${EXAMPLE_TIMES}', not a decimal number of seconds"
        PARENT_SCOPE)
    return()
  endif()
  decimal_to_microseconds("${EXAMPLE_TIMES}" taken_us)
  set(${out} ${taken_us} PARENT_SCOPE)
  set(${error} "" PARENT_SCOPE)
endfunction()

# example_check_output(<output> <taken_us> <error>)
#
# The checks every run that prints a grid must pass: nothing printed twice,
# exactly the N x N grid, and one "Time taken: S". <error> = "" and
# <taken_us> = S in microseconds, or <error> = the first thing wrong.
function(example_check_output output taken_us error)
  example_read_output("${output}")
  if(NOT EXAMPLE_DUPLICATE STREQUAL "")
    set(${error}
        "example printed '${EXAMPLE_DUPLICATE}' more than once (output copied by a fork?)"
        PARENT_SCOPE)
    return()
  endif()
  example_check_grid(${N} grid_error)
  if(NOT grid_error STREQUAL "")
    set(${error} "${grid_error}" PARENT_SCOPE)
    return()
  endif()
  example_time_taken(taken time_error)
  set(${taken_us} "${taken}" PARENT_SCOPE)
  set(${error} "${time_error}" PARENT_SCOPE)
endfunction()
