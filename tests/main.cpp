// The doctest programs' main: LITTLEBIT_ARCH naming a kernel path this CPU cannot run makes the
// whole program a skip (exit 77, CTest's SKIP_RETURN_CODE here), since what it asked to test is
// absent hardware; an unknown name is an error.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "littlebit/kernels/arch.hpp"

int main(int argc, char** argv) {
  if (const char* env = std::getenv("LITTLEBIT_ARCH"); env != nullptr && *env != '\0') {
    const auto arch = littlebit::kernels::parse_arch(env);
    if (!arch) {
      std::fprintf(stderr, "LITTLEBIT_ARCH=%s: unknown kernel path (avx512, avx2, scalar or portable)\n", env);
      return 2;
    }
    if (!littlebit::kernels::arch_supported(*arch)) {
      std::printf("LITTLEBIT_ARCH=%s: this CPU cannot run that path: skipped\n", env);
      return 77;
    }
    std::printf("kernel path forced by LITTLEBIT_ARCH: %s\n", env);
  }
  doctest::Context context(argc, argv);
  return context.run();
}
