// libFuzzer entry point: littlebit::fuzz::tokenizer (tests/fuzz/targets.hpp) with SmolLM2's vocabulary.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  littlebit::fuzz::tokenizer(littlebit::fuzz::smollm2_tokenizer(LITTLEBIT_SOURCE_DIR),
                             littlebit::fuzz::bytes_of(data, size));
  return 0;
}
