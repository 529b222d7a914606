// littlebit::Error and the readers' guard: only littlebit::Error leaves a reader.
#include <doctest/doctest.h>

#include <new>
#include <stdexcept>

#include "littlebit/core/error.hpp"

using littlebit::Error;

TEST_CASE("guard_reader: out of memory and foreign exceptions become littlebit::Error naming the file") {
  using littlebit::detail::guard_reader;
  CHECK(guard_reader("f.gguf", [] { return 7; }) == 7);
  CHECK_THROWS_WITH_AS(guard_reader("f.gguf", []() -> int { throw std::bad_alloc(); }),
                       "f.gguf: not enough memory to read it", Error);
  CHECK_THROWS_WITH_AS(guard_reader("f.json", []() -> int { throw std::length_error("vector too long"); }),
                       "f.json: vector too long", Error);
  CHECK_THROWS_WITH_AS(guard_reader("f", []() -> int { throw Error("f: its own message"); }), "f: its own message", Error);
}
