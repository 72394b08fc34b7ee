include(CMakePackageConfigHelpers)

set(pprocess_config_dir "${CMAKE_INSTALL_LIBDIR}/cmake/pprocess")

install(TARGETS pprocess EXPORT pprocessTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The headers of pprocess::mpi go with that component (below).
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  PATTERN "mpi" EXCLUDE
  PATTERN "mpi.hpp" EXCLUDE)
# share/doc/pprocess: the licence travels with the binaries and headers.
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(EXPORT pprocessTargets
  NAMESPACE pprocess::
  DESTINATION ${pprocess_config_dir})

configure_package_config_file(cmake/pprocessConfig.cmake.in
  "${PROJECT_BINARY_DIR}/pprocessConfig.cmake"
  INSTALL_DESTINATION ${pprocess_config_dir})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/pprocessConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/pprocessConfig.cmake"
  "${PROJECT_BINARY_DIR}/pprocessConfigVersion.cmake"
  DESTINATION ${pprocess_config_dir})

# pkg-config: cereal is header-only and ships no .pc file, so its include
# directory is passed as a flag.
get_target_property(pprocess_cereal_includes cereal::cereal INTERFACE_INCLUDE_DIRECTORIES)
list(JOIN pprocess_cereal_includes " -I" pprocess_cereal_cflags)
set(pprocess_cereal_cflags "-I${pprocess_cereal_cflags}")
# The .pc file finds the prefix relative to itself, so a staged or moved
# install works as well as one in CMAKE_INSTALL_PREFIX.
file(RELATIVE_PATH pprocess_pc_to_prefix
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
# A static libpprocess.a needs libbacktrace.a after it on the link line.
set(pprocess_pc_extra_libs "")
get_target_property(pprocess_type pprocess TYPE)
if(PPROCESS_LIBBACKTRACE AND pprocess_type STREQUAL "STATIC_LIBRARY")
  set(pprocess_pc_extra_libs " ${PPROCESS_LIBBACKTRACE}")
endif()
configure_file(cmake/pprocess.pc.in "${PROJECT_BINARY_DIR}/pprocess.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/pprocess.pc"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# pprocess::mpi: its library, headers, targets (loaded by the package config
# when the component is asked for) and pkg-config file.
if(PPROCESS_MPI_BUILT)
  install(TARGETS pprocess_mpi EXPORT pprocessMpiTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES include/pprocess/mpi.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pprocess)
  install(DIRECTORY include/pprocess/mpi
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pprocess)
  install(EXPORT pprocessMpiTargets
    NAMESPACE pprocess::
    DESTINATION ${pprocess_config_dir})
  configure_file(cmake/pprocess-mpi.pc.in "${PROJECT_BINARY_DIR}/pprocess-mpi.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pprocess-mpi.pc"
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# Build-tree export, for projects that use pprocess through add_subdirectory
# or FetchContent and export targets that depend on it.
export(EXPORT pprocessTargets NAMESPACE pprocess::
  FILE "${PROJECT_BINARY_DIR}/pprocessTargets.cmake")
if(PPROCESS_MPI_BUILT)
  export(EXPORT pprocessMpiTargets NAMESPACE pprocess::
    FILE "${PROJECT_BINARY_DIR}/pprocessMpiTargets.cmake")
endif()
