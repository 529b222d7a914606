// The golden kind "dual_svid" in a translation unit of its own (see golden_checks.hpp).
#include "check_dual_svid.hpp"
#include "golden_checks.hpp"

namespace littlebit::golden {

std::string run_check_dual_svid(const io::SafetensorsFile& f) { return check_dual_svid(f); }

}  // namespace littlebit::golden
