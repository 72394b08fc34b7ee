# A journaled pprocess::mpi::pmap resumes after its job was killed: runs
# journal_main.cpp three times with one journal, in a fresh WORK_DIR.
#
#   cmake "-DCOMMAND=mpirun|-np|3|mpi_journal" -DKILL=rank0|rank1
#         -DWORK_DIR=<dir> -P check_journal_resume.cmake
#
# 1. with KILL: a rank dies, the job must end with an error;
# 2. again: it computes only what the journal lacks (some, not all), and
#    every result is right;
# 3. again: it computes nothing.
# (COMMAND's words are separated by |: a ; would split the -D argument.)

string(REPLACE "|" ";" command "${COMMAND}")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(journal "${WORK_DIR}/resume.journal")
set(elements 600)
set(sum 71820100)  # 0² + 1² + ... + 599²

function(run generation kill)
  execute_process(
    COMMAND ${command} "${journal}" ${generation} ${kill}
    RESULT_VARIABLE status
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    TIMEOUT 90)
  message(STATUS "run ${generation} (${kill}): exit ${status}\n"
                 "stdout:\n${out}\nstderr:\n${err}")
  if(status MATCHES "timeout|Process terminated")
    message(FATAL_ERROR "run ${generation} hung: ${status}")
  endif()
  set(status "${status}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
endfunction()

run(1 ${KILL})
if(status EQUAL 0)
  message(FATAL_ERROR "run 1 succeeded; a rank was to be killed")
endif()
if(NOT EXISTS "${journal}")
  message(FATAL_ERROR "run 1 left no journal")
endif()

run(2 none)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "run 2 failed")
endif()
if(NOT out MATCHES "computed ([0-9]+) of ${elements}, sum ([0-9]+)")
  message(FATAL_ERROR "run 2 printed no result line")
endif()
set(computed ${CMAKE_MATCH_1})
if(NOT CMAKE_MATCH_2 EQUAL sum)
  message(FATAL_ERROR "run 2: sum ${CMAKE_MATCH_2}, expected ${sum}")
endif()
if(computed EQUAL 0 OR NOT computed LESS elements)
  message(FATAL_ERROR
    "run 2 computed ${computed} of ${elements}: it should resume (compute "
    "some, not all)")
endif()

run(3 none)
if(NOT status EQUAL 0 OR NOT out MATCHES "computed 0 of ${elements}, sum ${sum}")
  message(FATAL_ERROR "run 3 should compute nothing and give every result")
endif()
message(STATUS "run 2 computed ${computed} of ${elements}; run 3 none")
