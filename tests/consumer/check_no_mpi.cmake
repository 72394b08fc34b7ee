# Checks that an install of pprocess built without MPI holds nothing of
# pprocess::mpi. Arguments: PREFIX, INCLUDEDIR, LIBDIR.
set(found "")
foreach(path IN ITEMS
    "${INCLUDEDIR}/pprocess/mpi.hpp"
    "${INCLUDEDIR}/pprocess/mpi"
    "${LIBDIR}/cmake/pprocess/pprocessMpiTargets.cmake"
    "${LIBDIR}/pkgconfig/pprocess-mpi.pc")
  if(EXISTS "${PREFIX}/${path}")
    list(APPEND found "${path}")
  endif()
endforeach()
file(GLOB libraries RELATIVE "${PREFIX}" "${PREFIX}/${LIBDIR}/libpprocess_mpi*")
list(APPEND found ${libraries})
if(found)
  list(JOIN found "\n  " found_text)
  message(FATAL_ERROR
    "pprocess was built without MPI, yet its install under ${PREFIX} holds:\n"
    "  ${found_text}")
endif()
