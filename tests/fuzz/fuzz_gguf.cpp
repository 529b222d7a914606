// libFuzzer entry point: littlebit::fuzz::gguf (tests/fuzz/targets.hpp).
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  littlebit::fuzz::gguf(littlebit::fuzz::bytes_of(data, size));
  return 0;
}
