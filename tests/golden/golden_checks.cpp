#include "golden_checks.hpp"

#include "check_pack.hpp"
#include "check_ranks.hpp"

namespace littlebit::golden {

const std::map<std::string, Check>& checks() {
  static const std::map<std::string, Check> c = {
      {"pack", check_pack},
      {"ranks", check_ranks},
      {"factorized_linear", run_check_factorized_linear},
      {"dual_svid", run_check_dual_svid},
  };
  return c;
}

}  // namespace littlebit::golden
