// littlebit/core/error.hpp: the one exception type of the library.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace littlebit {

/// Raised for bad shapes, bad files and impossible targets. The message names the object
/// (tensor, matrix, argument), the expected value and the one found.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

/// Builds a message from streamable parts: fail("tensor '", name, "': expected ", a, ", found ", b).
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  std::ostringstream s;
  (s << ... << std::forward<Parts>(parts));
  throw Error(s.str());
}

}  // namespace detail
}  // namespace littlebit
