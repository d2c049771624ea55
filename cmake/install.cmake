# Installation: the headers, both libraries, an exported CMake package and a
# pkg-config file. Included at the end of the top CMakeLists.txt, once the
# targets exist.
#
#   cmake --install BUILD [--prefix DIR]
#
# puts, under the prefix (GNUInstallDirs names the folders):
#   include/fiberjob.h, fiberjob_frame.h, fiberjob.hpp
#   lib/libfiberjob.a, libfiberjob.so*
#   lib/cmake/fiberjob/fiberjobConfig.cmake, ...ConfigVersion.cmake, ...Targets*.cmake
#   lib/pkgconfig/fiberjob.pc
#
# Consumers: find_package(fiberjob) gives fiberjob::fiberjob (the static
# library, as in the build tree) and fiberjob::shared; pkg-config --libs
# fiberjob gives the shared library, pkg-config --static --libs what the
# static one needs besides (threads, the C++ runtime). Neither names another
# package (the library does not use hwloc: cmake/hwloc.cmake). Both files are relocatable: they find the prefix from where they were
# installed, so `--prefix` at install time is honoured.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FIBERJOB_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/fiberjob"
  CACHE STRING "Where fiberjobConfig.cmake goes, relative to the prefix")
set(FIBERJOB_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
  CACHE STRING "Where fiberjob.pc goes, relative to the prefix")

# The C++ runtime the static library needs at link time when it holds the C++
# exception boundary (src/cxx_boundary.cc). The shared library records it
# itself (DT_NEEDED). A consumer linking with a C compiler must be told.
set(FJ_CXX_RUNTIME "")
if(FJ_HAVE_CXX)
  if(CMAKE_CXX_FLAGS MATCHES "-stdlib=libc\\+\\+")
    set(FJ_CXX_RUNTIME "c++")
  else()
    set(FJ_CXX_RUNTIME "stdc++")
  endif()
endif()

# Names in the exported package: fiberjob::fiberjob (static) and
# fiberjob::shared, the same names as the aliases in the build tree.
set_target_properties(fiberjob_static PROPERTIES EXPORT_NAME fiberjob)
set_target_properties(fiberjob_shared PROPERTIES EXPORT_NAME shared)

# The top CMakeLists gives the installed include folder as "include"; follow
# CMAKE_INSTALL_INCLUDEDIR when it names another one, so the imported targets
# never point at a folder that was not installed.
if(NOT CMAKE_INSTALL_INCLUDEDIR STREQUAL "include")
  foreach(tgt fiberjob_static fiberjob_shared)
    get_target_property(dirs ${tgt} INTERFACE_INCLUDE_DIRECTORIES)
    string(REPLACE "$<INSTALL_INTERFACE:include>" "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>" dirs "${dirs}")
    set_target_properties(${tgt} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${dirs}")
  endforeach()
endif()

# The installed static library carries the C++ runtime to its consumers. In
# the build tree CMake already knows (the archive has a C++ object, so it links
# with the C++ driver); an installed archive imported into a C-only project
# would otherwise fail to link with undefined __gxx_personality_v0.
if(FJ_CXX_RUNTIME)
  target_link_libraries(fiberjob_static INTERFACE "$<INSTALL_INTERFACE:${FJ_CXX_RUNTIME}>")
endif()

install(TARGETS fiberjob_static fiberjob_shared
  EXPORT fiberjobTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT fiberjob_development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT fiberjob_runtime
          NAMELINK_COMPONENT fiberjob_development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT fiberjob_runtime)

set(FJ_PUBLIC_HEADERS include/fiberjob.h)
foreach(h fiberjob_frame.h fiberjob.hpp)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include/${h})
    list(APPEND FJ_PUBLIC_HEADERS include/${h})
  endif()
endforeach()
install(FILES ${FJ_PUBLIC_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT fiberjob_development)

install(EXPORT fiberjobTargets
  NAMESPACE fiberjob::
  FILE fiberjobTargets.cmake
  DESTINATION ${FIBERJOB_INSTALL_CMAKEDIR} COMPONENT fiberjob_development)

# fiberjob_HAS_CXX_BOUNDARY tells consumers whether C++ exceptions escaping a
# job become panics inside the library (fiberjob.hpp turns std::exception into
# panics itself either way).
set(FIBERJOB_HAS_CXX_BOUNDARY OFF)
if(FJ_HAVE_CXX)
  set(FIBERJOB_HAS_CXX_BOUNDARY ON)
endif()
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/fiberjobConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/fiberjobConfig.cmake
  INSTALL_DESTINATION ${FIBERJOB_INSTALL_CMAKEDIR})
# 0.x: a minor release may break the API, so only the same major.minor is
# compatible; from 1.0 on this becomes SameMajorVersion.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(FJ_VERSION_COMPAT SameMinorVersion)
else()
  set(FJ_VERSION_COMPAT SameMajorVersion)
endif()
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/fiberjobConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${FJ_VERSION_COMPAT})
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/fiberjobConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/fiberjobConfigVersion.cmake
  DESTINATION ${FIBERJOB_INSTALL_CMAKEDIR} COMPONENT fiberjob_development)

# pkg-config. The prefix is computed from the .pc file's own folder
# (${pcfiledir}, understood by pkg-config and pkgconf), so the file stays
# right wherever the tree is installed or moved. Absolute install dirs are
# written as they are.
set(FJ_PC_PRIVATE_LIBS "-lpthread")
if(FJ_CXX_RUNTIME)
  string(APPEND FJ_PC_PRIVATE_LIBS " -l${FJ_CXX_RUNTIME}")
endif()
if(IS_ABSOLUTE "${FIBERJOB_INSTALL_PKGCONFIGDIR}")
  set(FJ_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH FJ_PC_UP "/fj_prefix/${FIBERJOB_INSTALL_PKGCONFIGDIR}" "/fj_prefix")
  string(REGEX REPLACE "/$" "" FJ_PC_UP "${FJ_PC_UP}")
  set(FJ_PC_PREFIX "\${pcfiledir}/${FJ_PC_UP}")
endif()
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(FJ_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(FJ_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/fiberjob.pc.in ${CMAKE_CURRENT_BINARY_DIR}/fiberjob.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/fiberjob.pc
  DESTINATION ${FIBERJOB_INSTALL_PKGCONFIGDIR} COMPONENT fiberjob_development)
