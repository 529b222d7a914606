// littlebit/core/error.hpp: the one exception type of the library.
#pragma once

#include <exception>
#include <new>
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

/// Runs a reader's `f` so that only littlebit::Error leaves it: running out of memory, a JSON
/// library's exception or any other std::exception becomes an Error naming `what` (the file).
template <class F>
decltype(auto) guard_reader(const std::string& what, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    fail(what, ": not enough memory to read it");
  } catch (const std::exception& e) {
    fail(what, ": ", e.what());
  }
}

}  // namespace detail
}  // namespace littlebit
