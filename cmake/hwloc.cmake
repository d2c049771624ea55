# hwloc (Debian libhwloc-dev), found with pkg-config, for the CPU topology
# (src/topology_hwloc.c). Without it the topology is read from /sys only.
#
#   -DFIBERJOB_HWLOC=AUTO   use hwloc when it is found and links (default)
#   -DFIBERJOB_HWLOC=ON     require it
#   -DFIBERJOB_HWLOC=OFF    never use it
#
# Sets FJ_HAVE_HWLOC and, when on, the imported target PkgConfig::FJ_HWLOC.
# The installed package finds it again the same way (fiberjobConfig.cmake.in).
set(FIBERJOB_HWLOC "AUTO" CACHE STRING "Read the CPU topology through hwloc: AUTO (when found), ON or OFF")
set_property(CACHE FIBERJOB_HWLOC PROPERTY STRINGS AUTO ON OFF)

set(FJ_HAVE_HWLOC OFF)
if(FIBERJOB_HWLOC STREQUAL "AUTO" OR FIBERJOB_HWLOC)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    # 2.1: hwloc_topology_set_components.
    pkg_check_modules(FJ_HWLOC QUIET IMPORTED_TARGET hwloc>=2.1)
  endif()
  if(FJ_HWLOC_FOUND)
    # A cross build can find the build machine's hwloc.pc (pkg-config knows no
    # target): use hwloc only when a program for the target links with it.
    include(CheckCSourceCompiles)
    set(CMAKE_REQUIRED_LIBRARIES PkgConfig::FJ_HWLOC)
    check_c_source_compiles("
      #include <hwloc.h>
      int main(void)
      {
          hwloc_topology_t t;
          if (hwloc_topology_init(&t) != 0)
              return 1;
          hwloc_topology_destroy(t);
          return 0;
      }" FJ_HWLOC_LINKS)
    unset(CMAKE_REQUIRED_LIBRARIES)
    if(FJ_HWLOC_LINKS)
      set(FJ_HAVE_HWLOC ON)
    endif()
  endif()
  if(FJ_HAVE_HWLOC)
    message(STATUS "Topology through hwloc ${FJ_HWLOC_VERSION}, /sys as the fallback")
  elseif(FIBERJOB_HWLOC STREQUAL "AUTO")
    message(STATUS "hwloc >= 2.1 not found or not linkable (Debian: libhwloc-dev): topology from /sys only")
  else()
    message(FATAL_ERROR "FIBERJOB_HWLOC=ON but hwloc >= 2.1 was not found with pkg-config or does not link")
  endif()
endif()
