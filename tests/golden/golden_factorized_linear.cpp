// The golden kind "factorized_linear" in a translation unit of its own (see golden_checks.hpp).
#include "check_factorized_linear.hpp"
#include "golden_checks.hpp"

namespace littlebit::golden {

std::string run_check_factorized_linear(const io::SafetensorsFile& f) { return check_factorized_linear(f); }

}  // namespace littlebit::golden
