# pprocess::mpi, the optional component over MPI (docs/mpi.md): built when
# MPI is found, unless PPROCESS_WITH_MPI says otherwise. The core library and
# its package never depend on MPI.

set(PPROCESS_WITH_MPI AUTO CACHE STRING
  "Build pprocess::mpi: ON, OFF, or AUTO (when MPI is found)")
set_property(CACHE PPROCESS_WITH_MPI PROPERTY STRINGS AUTO ON OFF)

# Any spelling CMake takes for a boolean (-DPPROCESS_WITH_MPI=NO, =off, =0,
# =TRUE), as for an option(): compared with "ON" and "OFF" alone, NO would
# have meant AUTO, and YES would have built without MPI where it is missing.
string(TOUPPER "${PPROCESS_WITH_MPI}" pprocess_with_mpi)
if(pprocess_with_mpi MATCHES "^(ON|YES|TRUE|Y|1)$")
  set(pprocess_with_mpi ON)
elseif(pprocess_with_mpi MATCHES "^(OFF|NO|FALSE|N|0)$")
  set(pprocess_with_mpi OFF)
elseif(NOT pprocess_with_mpi STREQUAL "AUTO")
  message(FATAL_ERROR
    "PPROCESS_WITH_MPI is '${PPROCESS_WITH_MPI}': it must be ON, OFF or AUTO")
endif()

set(PPROCESS_MPI_BUILT OFF)
if(NOT pprocess_with_mpi STREQUAL "OFF")
  # The MPI C API only: the MPI-2 C++ bindings are gone from MPI 3.
  set(MPI_CXX_SKIP_MPICXX ON)
  if(pprocess_with_mpi STREQUAL "ON")
    find_package(MPI 3.1 REQUIRED COMPONENTS CXX)
  else()
    find_package(MPI 3.1 COMPONENTS CXX)
  endif()
  if(MPI_CXX_FOUND)
    set(PPROCESS_MPI_BUILT ON)
  else()
    message(STATUS "pprocess: MPI not found, pprocess::mpi is not built "
      "(Debian: apt-get install libopenmpi-dev openmpi-bin)")
  endif()
endif()

if(PPROCESS_MPI_BUILT)
  add_library(pprocess_mpi
    src/mpi/environment.cpp
    src/mpi/session.cpp
    src/mpi/wire_error.cpp
  )
  add_library(pprocess::mpi ALIAS pprocess_mpi)
  target_link_libraries(pprocess_mpi PUBLIC pprocess MPI::MPI_CXX)
  set_target_properties(pprocess_mpi PROPERTIES
    CXX_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME mpi)
  pprocess_set_warnings(pprocess_mpi)
endif()
