# pprocess::mpi, the optional component over MPI (docs/mpi.md): built when
# MPI is found, unless PPROCESS_WITH_MPI says otherwise. The core library and
# its package never depend on MPI.

set(PPROCESS_WITH_MPI AUTO CACHE STRING
  "Build pprocess::mpi: ON, OFF, or AUTO (when MPI is found)")
set_property(CACHE PPROCESS_WITH_MPI PROPERTY STRINGS AUTO ON OFF)

set(PPROCESS_MPI_BUILT OFF)
if(NOT PPROCESS_WITH_MPI STREQUAL "OFF")
  # The MPI C API only: the MPI-2 C++ bindings are gone from MPI 3.
  set(MPI_CXX_SKIP_MPICXX ON)
  if(PPROCESS_WITH_MPI STREQUAL "ON")
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
