// Uses the installed package: the umbrella header, packing, the rank rule, a safetensors round trip.
#include <littlebit/littlebit.hpp>

#include <cstdio>
#include <filesystem>
#include <vector>

int main() {
  const auto choice = littlebit::rank_for_bpw({4096, 4096}, 0.55);
  const std::vector<float> w = {0.5f, -1.0f, 0.0f, -0.0f, 2.0f, -3.0f};
  const auto bits = littlebit::pack_signs(littlebit::MatrixView<const float>(w.data(), 2, 3));
  const auto words = littlebit::export_official(bits);

  const auto path = std::filesystem::temp_directory_path() / "littlebit_consumer.safetensors";
  const std::vector<littlebit::io::TensorToWrite> ts = {
      littlebit::io::tensor_to_write("packed", std::span<const std::int32_t>(words), {2, 1})};
  littlebit::io::write_safetensors(path, ts, {{"kind", "consumer"}});
  const auto back = littlebit::io::SafetensorsFile::open(path).tensor("packed").to_vector<std::int32_t>();
  std::filesystem::remove(path);

  // Row 0 = (+, -, +) -> 0b010, row 1 = (+, +, -) -> 0b100.
  const bool ok = choice.rank == 544 && choice.meets_target() && back == std::vector<std::int32_t>{2, 4};
  std::printf("consumer: rank %ld, packed words %d %d: %s\n", static_cast<long>(choice.rank), back[0], back[1],
              ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
