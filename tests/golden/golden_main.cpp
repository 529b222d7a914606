// golden: checks every *.safetensors file of a directory against the official LittleBit math.
//
//   golden [DIR]        DIR defaults to $LITTLEBIT_GOLDEN_DIR, then to tests/data/golden.
//
// Each file's __metadata__.kind selects its check; an unknown or missing kind is a failure, not
// a skip, as is an unreadable file or a directory with no files. Prints one line per file and
// "N passed, M failed"; exits 0 only when every file passed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "golden_checks.hpp"
#include "golden_util.hpp"

#ifndef LITTLEBIT_GOLDEN_DEFAULT_DIR
#define LITTLEBIT_GOLDEN_DEFAULT_DIR "tests/data/golden"
#endif

namespace fs = std::filesystem;
using littlebit::golden::CheckFailed;

int main(int argc, char** argv) {
  fs::path dir = LITTLEBIT_GOLDEN_DEFAULT_DIR;
  if (const char* env = std::getenv("LITTLEBIT_GOLDEN_DIR"); env != nullptr && *env != '\0') dir = env;
  if (argc > 1) dir = argv[1];

  const auto& checks = littlebit::golden::checks();

  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  if (ec) {
    std::printf("golden: cannot read directory %s: %s\n0 passed, 1 failed\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::sort(files.begin(), files.end());
  std::printf("golden: %zu files in %s\n", files.size(), dir.c_str());

  int passed = 0, failed = 0;
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    std::string kind = "?";
    try {
      const auto f = littlebit::io::SafetensorsFile::open(path);
      kind = f.metadata_value("kind").value_or("");
      const auto it = checks.find(kind);
      if (kind.empty()) throw CheckFailed("no __metadata__.kind");
      if (it == checks.end()) throw CheckFailed("unknown kind '" + kind + "'");
      const std::string what = it->second(f);
      std::printf("PASS  %-36s [%s] %s\n", name.c_str(), kind.c_str(), what.c_str());
      ++passed;
    } catch (const std::exception& e) {
      std::printf("FAIL  %-36s [%s] %s\n", name.c_str(), kind.c_str(), e.what());
      ++failed;
    }
  }
  if (files.empty()) {
    std::printf("FAIL  no *.safetensors files in %s\n", dir.c_str());
    ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
