// The kernel paths a test case runs.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "littlebit/kernels/arch.hpp"

namespace littlebit::test {

/// Of the paths a kernel implements, those this CPU runs, slowest first. Each one the CPU (or the
/// build) cannot run is reported as skipped, never replaced by a fallback that would then be
/// compared with itself. The covered paths are reported too, so a log says what was checked.
inline std::vector<kernels::Arch> arch_cases(
    std::initializer_list<kernels::Arch> implemented = {kernels::Arch::kScalar, kernels::Arch::kAvx2,
                                                        kernels::Arch::kAvx512}) {
  std::vector<kernels::Arch> out;
  std::string covered, skipped;
  for (kernels::Arch a : implemented) {
    if (kernels::arch_supported(a)) {
      out.push_back(a);
      covered += std::string(covered.empty() ? "" : ", ") + std::string(kernels::arch_name(a));
    } else {
      skipped += std::string(skipped.empty() ? "" : ", ") + std::string(kernels::arch_name(a));
    }
  }
  MESSAGE("kernel paths covered: " << covered << (skipped.empty() ? "" : "; skipped (not runnable here): ") << skipped);
  return out;
}

}  // namespace littlebit::test
