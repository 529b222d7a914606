// littlebit/kernels/arch.hpp: the instruction-set paths of the CPU kernels and how one is chosen.
//
// Paths (each kernel has one overload per path; a portable one always exists):
//   kScalar   plain C++, any CPU;
//   kAvx2     AVX2 + FMA + F16C + BMI2 + POPCNT (Haswell, Zen 1 and later);
//   kAvx512   AVX-512 F/BW/VL/DQ + VNNI + VPOPCNTDQ (Ice Lake, Zen 4 and later).
//
// With GCC or Clang on x86-64 the AVX2 and AVX-512 paths are compiled into every binary through
// per-function target attributes, whatever the translation unit's -m flags (the library adds no
// architecture flags), and chosen at run time from what the CPU reports (best_arch()). With other
// compilers a path is compiled only when the compiler's feature macros (e.g. /arch:AVX512) enable
// its instructions. LITTLEBIT_KERNELS_NO_RUNTIME_DISPATCH restricts GCC/Clang to the macro rule as
// well, for builds that must not contain instructions beyond their -march.
//
// Forcing a path: every kernel takes its path as an argument whose default is default_arch(): the
// path set by set_default_arch(), else the one the environment variable LITTLEBIT_ARCH names
// (avx512, avx2, scalar, or portable = scalar, read once), else best_arch(). Asking for a path that
// is not compiled in or that this CPU cannot run raises littlebit::Error naming it, rather than
// falling back silently.
#pragma once

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "littlebit/core/error.hpp"

namespace littlebit::kernels {

enum class Arch { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

constexpr std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::kScalar: return "scalar";
    case Arch::kAvx2: return "avx2";
    case Arch::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace littlebit::kernels

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(LITTLEBIT_KERNELS_NO_RUNTIME_DISPATCH)
#define LITTLEBIT_KERNELS_X86_DISPATCH 1
#define LITTLEBIT_KERNELS_HAS_AVX2 1
#define LITTLEBIT_KERNELS_HAS_AVX512 1
#define LITTLEBIT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,lzcnt")))
#define LITTLEBIT_TARGET_AVX512                                                                   \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vpopcntdq,avx2,fma," \
                        "f16c,bmi,bmi2,popcnt,lzcnt")))
#else
#define LITTLEBIT_KERNELS_X86_DISPATCH 0
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__BMI2__)
#define LITTLEBIT_KERNELS_HAS_AVX2 1
#else
#define LITTLEBIT_KERNELS_HAS_AVX2 0
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && \
    defined(__AVX512VNNI__) && defined(__AVX512VPOPCNTDQ__) && LITTLEBIT_KERNELS_HAS_AVX2
#define LITTLEBIT_KERNELS_HAS_AVX512 1
#else
#define LITTLEBIT_KERNELS_HAS_AVX512 0
#endif
#define LITTLEBIT_TARGET_AVX2
#define LITTLEBIT_TARGET_AVX512
#endif

#if LITTLEBIT_KERNELS_HAS_AVX2 || LITTLEBIT_KERNELS_HAS_AVX512
#include <immintrin.h>
#endif

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() values that -W(maybe-)uninitialized reports
// once the kernels are inlined (GCC PR 105593, fixed in GCC 13). Kernel headers wrap their code in
// these, so that consumers building with -Werror are not stopped by a compiler bug.
#if defined(__GNUC__) && !defined(__clang__)
#define LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593                                    \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
      _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define LITTLEBIT_KERNELS_END_IGNORE_PR105593 _Pragma("GCC diagnostic pop")
#else
#define LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
#define LITTLEBIT_KERNELS_END_IGNORE_PR105593
#endif

// Fully unrolls a loop of compile-time trip count, so that arrays of vector accumulators stay in
// registers (GCC at -O2 otherwise keeps them in memory, and every add waits on a store).
#if defined(__clang__)
#define LITTLEBIT_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define LITTLEBIT_UNROLL _Pragma("GCC unroll 16")
#else
#define LITTLEBIT_UNROLL
#endif

namespace littlebit::kernels {

/// True when the path is compiled into this binary.
constexpr bool arch_compiled(Arch a) {
  switch (a) {
    case Arch::kScalar: return true;
    case Arch::kAvx2: return LITTLEBIT_KERNELS_HAS_AVX2 != 0;
    case Arch::kAvx512: return LITTLEBIT_KERNELS_HAS_AVX512 != 0;
  }
  return false;
}

/// True when the path is compiled in and this CPU (and OS) can run it.
inline bool arch_supported(Arch a) {
  if (!arch_compiled(a)) return false;
  if (a == Arch::kScalar) return true;
#if LITTLEBIT_KERNELS_X86_DISPATCH
  __builtin_cpu_init();
  if (a == Arch::kAvx2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
           __builtin_cpu_supports("popcnt");
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vpopcntdq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;  // compiled in from the compiler's macros: the build targets this CPU
#endif
}

/// The fastest path this CPU runs (computed once).
inline Arch best_arch() {
  static const Arch best = [] {
    for (Arch a : {Arch::kAvx512, Arch::kAvx2})
      if (arch_supported(a)) return a;
    return Arch::kScalar;
  }();
  return best;
}

/// Every path compiled in and supported here, slowest first (what the tests run).
inline std::vector<Arch> supported_archs() {
  std::vector<Arch> out;
  for (Arch a : {Arch::kScalar, Arch::kAvx2, Arch::kAvx512})
    if (arch_supported(a)) out.push_back(a);
  return out;
}

/// The path a name means: "avx512", "avx2", "scalar" or "portable" (the same path); nullopt otherwise.
constexpr std::optional<Arch> parse_arch(std::string_view name) {
  if (name == "avx512") return Arch::kAvx512;
  if (name == "avx2") return Arch::kAvx2;
  if (name == "scalar" || name == "portable") return Arch::kScalar;
  return std::nullopt;
}

namespace detail {

/// Raises unless `a` runs here; `who` names where the request came from.
inline Arch require_arch(Arch a, std::string_view who) {
  if (!arch_compiled(a))
    littlebit::detail::fail(who, ": the ", arch_name(a), " kernel path is not compiled into this build");
  if (!arch_supported(a))
    littlebit::detail::fail(who, ": the ", arch_name(a), " kernel path needs instructions this CPU lacks (it runs: ",
                            arch_name(best_arch()), ")");
  return a;
}

/// LITTLEBIT_ARCH, parsed and checked (raises on an unknown or unsupported name); nullopt when unset.
inline std::optional<Arch> arch_from_environment() {
  const char* env = std::getenv("LITTLEBIT_ARCH");
  if (env == nullptr || *env == '\0') return std::nullopt;
  const std::optional<Arch> a = parse_arch(env);
  if (!a) littlebit::detail::fail("LITTLEBIT_ARCH=", env, ": unknown kernel path (avx512, avx2, scalar or portable)");
  return require_arch(*a, std::string("LITTLEBIT_ARCH=") + env);
}

inline std::atomic<int>& forced_arch() {
  static std::atomic<int> forced{-1};  // -1: not set by set_default_arch()
  return forced;
}

}  // namespace detail

/// Forces the path of every kernel call that does not name one (overrides LITTLEBIT_ARCH).
/// Raises littlebit::Error when the path is not compiled in or this CPU cannot run it.
inline void set_default_arch(Arch a) {
  detail::forced_arch().store(static_cast<int>(detail::require_arch(a, "set_default_arch")));
}

/// Undoes set_default_arch(): back to LITTLEBIT_ARCH or best_arch().
inline void reset_default_arch() { detail::forced_arch().store(-1); }

/// The path kernels use by default: set_default_arch(), else LITTLEBIT_ARCH, else best_arch().
inline Arch default_arch() {
  const int forced = detail::forced_arch().load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Arch>(forced);
  static const Arch from_env = detail::arch_from_environment().value_or(best_arch());
  return from_env;
}

}  // namespace littlebit::kernels
