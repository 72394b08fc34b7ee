# Runs a pprocess::mpi job that must end with an error, and checks that it
# did: mpirun exits non-zero within SECONDS, stderr matches EXPECT, and no
# process of the job is left behind.
#
#   cmake "-DCOMMAND=mpirun|-np|3|program|arguments"
#         -DEXPECT=<regex> -DSECONDS=<n> -P check_abort.cmake
#
# (COMMAND's words are separated by |: a ; would split the -D argument.)

string(REPLACE "|" ";" command "${COMMAND}")
# A mark of this run on the command line of every rank (and so of every
# process a rank forks), to look for them afterwards.
string(RANDOM LENGTH 12 mark)
list(APPEND command "--mark=${mark}")
string(TIMESTAMP started "%s")
execute_process(
  COMMAND ${command}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 90)
string(TIMESTAMP ended "%s")
math(EXPR took "${ended} - ${started}")
message(STATUS "exit: ${status}, ${took} s\nstdout:\n${out}\nstderr:\n${err}")

if(status EQUAL 0)
  message(FATAL_ERROR "the job succeeded; it must end with an error")
endif()
if(status MATCHES "timeout|Process terminated")
  message(FATAL_ERROR "the job hung: ${status}")
endif()
if(took GREATER SECONDS)
  message(FATAL_ERROR "the job took ${took} s to end (at most ${SECONDS} s)")
endif()
if(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "stderr does not match '${EXPECT}'")
endif()

# Nothing left: no rank, no process a rank created.
execute_process(COMMAND pgrep -f -- "--mark=${mark}" OUTPUT_VARIABLE left
  RESULT_VARIABLE pgrep_status)
if(pgrep_status EQUAL 0)
  execute_process(COMMAND sleep 2)
  execute_process(COMMAND pgrep -a -f -- "--mark=${mark}" OUTPUT_VARIABLE left
    RESULT_VARIABLE pgrep_status)
  if(pgrep_status EQUAL 0)
    message(FATAL_ERROR "processes left behind:\n${left}")
  endif()
endif()
