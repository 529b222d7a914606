#include "golden_checks.hpp"

#include "check_dual_svid.hpp"
#include "check_factorized_linear.hpp"
#include "check_pack.hpp"
#include "check_ranks.hpp"

namespace littlebit::golden {

const std::map<std::string, Check>& checks() {
  static const std::map<std::string, Check> c = {
      {"pack", check_pack},
      {"ranks", check_ranks},
      {"factorized_linear", check_factorized_linear},
      {"dual_svid", check_dual_svid},
  };
  return c;
}

}  // namespace littlebit::golden
