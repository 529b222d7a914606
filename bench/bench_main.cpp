// littlebit_bench: micro-benchmarks of every kernel. See docs/benchmarks.md for the command,
// the machine and the results. Each benchmark validates its kernel once against the reference
// before timing and reports bytes/s and, where one exists, the ratio to a baseline of the same run.
//
// Multi-threaded cases are timed on the wall clock (UseRealTime), which makes Google Benchmark
// append "/real_time" to their names (and fixed iteration or repetition counts "/iterations:N",
// "/repeats:N"); the reporters here drop those suffixes so that every case is
// named exactly as documented (forward/<out>x<in>/bpw:<b>/batch:<k>/threads:<t>, ...).
#include <benchmark/benchmark.h>

#include "littlebit/kernels/arch.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

/// Forwards to `inner` with the time-type part of every run name removed.
class PlainNames : public benchmark::BenchmarkReporter {
 public:
  explicit PlainNames(std::unique_ptr<benchmark::BenchmarkReporter> inner) : inner_(std::move(inner)) {}

  bool ReportContext(const Context& context) override {
    sync_streams();
    return inner_->ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    sync_streams();
    std::vector<Run> plain = runs;
    for (Run& r : plain) {
      r.run_name.time_type.clear();
      r.run_name.iterations.clear();
      r.run_name.repetitions.clear();
    }
    inner_->ReportRuns(plain);
  }
  void Finalize() override { inner_->Finalize(); }

 private:
  void sync_streams() {
    inner_->SetOutputStream(&GetOutputStream());
    inner_->SetErrorStream(&GetErrorStream());
  }
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
};

/// json or console (Google Benchmark has deprecated its CSV reporter).
std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string& format) {
  if (format == "json") return std::make_unique<benchmark::JSONReporter>();
  return std::make_unique<benchmark::ConsoleReporter>();
}

/// The value of --<flag>=<value> in argv, or `fallback`.
std::string flag(int argc, char** argv, const char* name, const char* fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string display_format = flag(argc, argv, "benchmark_format", "console");
  const std::string out = flag(argc, argv, "benchmark_out", "");
  const std::string out_format = flag(argc, argv, "benchmark_out_format", "json");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // What a figure depends on, in the context of every report: the kernel path cases without an
  // /arch: part run (LITTLEBIT_ARCH or the best this CPU runs), every path this CPU runs (cases
  // with /arch:<path> time the others), and the OpenBLAS core type of the dense baselines.
  namespace k = littlebit::kernels;
  std::string paths;
  for (k::Arch a : k::supported_archs()) paths += std::string(paths.empty() ? "" : ",") + std::string(k::arch_name(a));
  try {
    benchmark::AddCustomContext("littlebit_kernel_path", std::string(k::arch_name(k::default_arch())));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "littlebit_bench: %s\n", e.what());
    return 1;
  }
  benchmark::AddCustomContext("littlebit_paths_supported", paths);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("openblas_coretype", coretype != nullptr && *coretype != '\0' ? coretype : "auto");
  PlainNames display(make_reporter(display_format));
  std::unique_ptr<PlainNames> file;
  if (!out.empty()) file = std::make_unique<PlainNames>(make_reporter(out_format));
  benchmark::RunSpecifiedBenchmarks(&display, file.get());
  benchmark::Shutdown();
  return 0;
}
