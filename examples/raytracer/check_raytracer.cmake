# Runs one ray tracer program and checks its picture.
#
#   cmake -DPROGRAM=<path> -DWIDTH=<pixels> -DHEIGHT=<pixels> -DOUT=<png>
#         [-DARGS=<more arguments, separated by '|'>]
#         [-DREFERENCE=<png>] -P check_raytracer.cmake
#
# Runs PROGRAM --width WIDTH --height HEIGHT --out OUT ARGS... (OUT removed
# first). PROGRAM must exit with status 0, print "Time taken: S" once and
# "Wrote WIDTHxHEIGHT image to OUT", and write a PNG of that size there. If
# REFERENCE is given (the sequential rendering), OUT must be identical to
# it, byte for byte.

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS PROGRAM WIDTH HEIGHT OUT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_raytracer.cmake: -D${var}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" args "${ARGS}")

# Runs <program> into <png> and checks what it printed and wrote.
function(render program png)
  file(REMOVE "${png}")
  get_filename_component(dir "${png}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  set(command "${program}" --width ${WIDTH} --height ${HEIGHT} --out "${png}"
              ${args})
  execute_process(COMMAND ${command}
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors
    TIMEOUT 50)
  list(JOIN command " " command_text)
  set(shown "command: ${command_text}\nexit status: ${status}\n--- stdout ---\n${output}--- stderr ---\n${errors}--- end ---")
  if(NOT status STREQUAL "0")
    message(FATAL_ERROR "${shown}\nthe program failed")
  endif()
  string(REGEX MATCHALL "Time taken: [0-9]+[.][0-9]+\n" times "${output}")
  list(LENGTH times count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "${shown}\nexpected one line 'Time taken: S', found ${count}")
  endif()
  string(FIND "${output}" "Wrote ${WIDTH}x${HEIGHT} image to ${png}\n" at)
  if(at LESS 0)
    message(FATAL_ERROR "${shown}\nno line 'Wrote ${WIDTH}x${HEIGHT} image to ${png}'")
  endif()
  # The PNG signature, then the IHDR chunk: width and height, 4 bytes each,
  # big-endian, at offset 16.
  file(READ "${png}" head LIMIT 24 HEX)
  math(EXPR width_hex "${WIDTH}" OUTPUT_FORMAT HEXADECIMAL)
  math(EXPR height_hex "${HEIGHT}" OUTPUT_FORMAT HEXADECIMAL)
  string(REGEX REPLACE "^0x" "" width_hex "${width_hex}")
  string(REGEX REPLACE "^0x" "" height_hex "${height_hex}")
  string(REPEAT "0" 8 zeros)
  string(PREPEND width_hex "${zeros}")
  string(PREPEND height_hex "${zeros}")
  string(REGEX MATCH "........$" width_hex "${width_hex}")
  string(REGEX MATCH "........$" height_hex "${height_hex}")
  string(TOLOWER "89504e470d0a1a0a0000000d49484452${width_hex}${height_hex}" expected)
  if(NOT head STREQUAL expected)
    message(FATAL_ERROR "${shown}\n${png} does not start as a ${WIDTH}x${HEIGHT} PNG: ${head}")
  endif()
endfunction()

render("${PROGRAM}" "${OUT}")
if(DEFINED REFERENCE AND NOT REFERENCE STREQUAL "")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E compare_files "${OUT}" "${REFERENCE}"
    RESULT_VARIABLE differ)
  if(NOT differ STREQUAL "0")
    message(FATAL_ERROR "${OUT} differs from the sequential rendering ${REFERENCE}")
  endif()
  message(STATUS "${PROGRAM}: ${WIDTH}x${HEIGHT} PNG identical to the sequential one")
else()
  message(STATUS "${PROGRAM}: ${WIDTH}x${HEIGHT} PNG written")
endif()
