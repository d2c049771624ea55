# hwloc (Debian libhwloc-dev), found with pkg-config, for one test only:
# unit.topology_hwloc checks that the library's /sys reader (src/topology.c)
# gives the answers hwloc gives, on made-up machines and on this one. The
# library never includes or links hwloc (its first fj_create would pay for
# hwloc's plugins, and its consumers would need hwloc's development files),
# so this option changes no installed file.
#
#   -DFIBERJOB_HWLOC=AUTO   build the check when hwloc is found and links (default)
#   -DFIBERJOB_HWLOC=ON     require it
#   -DFIBERJOB_HWLOC=OFF    never look for it
#
# Sets FJ_HAVE_HWLOC and, when on, the imported target PkgConfig::FJ_HWLOC.
set(FIBERJOB_HWLOC "AUTO" CACHE STRING "Check the /sys topology reader against hwloc in a test: AUTO (when found), ON or OFF")
set_property(CACHE FIBERJOB_HWLOC PROPERTY STRINGS AUTO ON OFF)

set(FJ_HAVE_HWLOC OFF)
if(FIBERJOB_HWLOC STREQUAL "AUTO" OR FIBERJOB_HWLOC)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    # 2.4: the CPU kinds (hwloc_cpukinds_*).
    pkg_check_modules(FJ_HWLOC QUIET IMPORTED_TARGET hwloc>=2.4)
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
    message(STATUS "hwloc ${FJ_HWLOC_VERSION}: unit.topology_hwloc checks the /sys reader against it")
  elseif(FIBERJOB_HWLOC STREQUAL "AUTO")
    message(STATUS "hwloc >= 2.4 not found or not linkable (Debian: libhwloc-dev): no unit.topology_hwloc")
  else()
    message(FATAL_ERROR "FIBERJOB_HWLOC=ON but hwloc >= 2.4 was not found with pkg-config or does not link")
  endif()
endif()
