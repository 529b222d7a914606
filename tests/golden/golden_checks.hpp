// The golden checks by kind, compiled once (golden_checks.cpp) for the golden program and the
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

}  // namespace littlebit::golden
