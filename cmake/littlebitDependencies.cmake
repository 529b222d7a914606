# The dependencies of the littlebit::littlebit target, for the build tree and for the installed
# package (littlebitConfig.cmake includes this file). All header-only, from the platform's packages.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.4 NO_MODULE)
find_dependency(nlohmann_json 3.10)
find_dependency(xsimd 8.1)

# Debian's xsimd 8.1 exports a target whose link interface names "xtl" without finding it, which
# turns into a bare -lxtl that does not exist. xsimd's headers need xtl only for
# XSIMD_ENABLE_XTL_COMPLEX, which littlebit does not use: use xtl's target when it is installed,
# and satisfy the name with an empty interface target otherwise.
if(TARGET xsimd AND NOT TARGET xtl)
  find_package(xtl QUIET)
  if(NOT TARGET xtl)
    add_library(xtl INTERFACE IMPORTED)
  endif()
endif()
