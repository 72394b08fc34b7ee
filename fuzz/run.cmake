# Seeds a fresh corpus and fuzzes the frame decoder for SECONDS seconds.
# Arguments: BINARY_DIR (the fuzz build), SECONDS.
set(corpus "${BINARY_DIR}/corpus")
file(REMOVE_RECURSE "${corpus}")
file(MAKE_DIRECTORY "${corpus}")
execute_process(COMMAND "${BINARY_DIR}/make_seeds" "${corpus}"
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(
  COMMAND "${BINARY_DIR}/frame_fuzzer" -max_total_time=${SECONDS}
          -max_len=65536 -timeout=10 -print_final_stats=1 "${corpus}"
  WORKING_DIRECTORY "${BINARY_DIR}"
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "frame_fuzzer found a failure (crash-* file in ${BINARY_DIR})")
endif()
