// The golden checks by kind, compiled once (golden_*.cpp) for the golden program and the
// unit tests. A check returns a one-line description on success and throws on failure
// (CheckFailed for a wrong value, littlebit::Error for an unreadable or inconsistent file).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "littlebit/io/safetensors.hpp"

namespace littlebit::golden {

using Check = std::function<std::string(const io::SafetensorsFile&)>;

/// kind -> check: "pack", "ranks", "factorized_linear", "dual_svid".
const std::map<std::string, Check>& checks();

// The heavy kinds, each compiled in a translation unit of its own (golden_<kind>.cpp) so that a
// build on two cores compiles them side by side.
std::string run_check_dual_svid(const io::SafetensorsFile& f);
std::string run_check_factorized_linear(const io::SafetensorsFile& f);

}  // namespace littlebit::golden
