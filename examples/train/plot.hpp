// examples/train/plot.hpp: a PNG of a run's curves: training losses (total, KL, lambda x MSE)
// per step in the top panel and the evaluation perplexity in the bottom one, both on log10
// axes, with labels (stb_easy_font) and written with stb_image_write, atomically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <stb_easy_font.h>
#include <stb_image_write.h>

#include "littlebit/core/error.hpp"

namespace train {

struct Series {
  std::string label;
  unsigned char rgb[3];
  std::vector<std::pair<double, double>> points;  // (step, value > 0)
};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<std::size_t>(w * h * 3), 255) {}
  void dot(int x, int y, const unsigned char* c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    std::copy(c, c + 3, px_.begin() + (static_cast<std::ptrdiff_t>(y) * w_ + x) * 3);
  }
  void line(int x0, int y0, int x1, int y1, const unsigned char* c, int width = 1) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      for (int a = 0; a < width; ++a)
        for (int b = 0; b < width; ++b) dot(x0 + a, y0 + b, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  void text(int x, int y, const std::string& s, const unsigned char* c, int scale = 2) {
    std::vector<char> buf(s.size() * 300 + 64);
    const int quads = stb_easy_font_print(0, 0, const_cast<char*>(s.c_str()), nullptr, buf.data(), static_cast<int>(buf.size()));
    const float* v = reinterpret_cast<const float*>(buf.data());
    for (int q = 0; q < quads; ++q) {
      const float* a = v + q * 16;  // 4 vertices of (x, y, z, color) = 16 bytes each
      float fx0 = a[0], fx1 = a[0], fy0 = a[1], fy1 = a[1];
      for (int k = 1; k < 4; ++k) {
        fx0 = std::min(fx0, a[4 * k]);
        fx1 = std::max(fx1, a[4 * k]);
        fy0 = std::min(fy0, a[4 * k + 1]);
        fy1 = std::max(fy1, a[4 * k + 1]);
      }
      const int x0 = static_cast<int>(fx0), y0 = static_cast<int>(fy0), x1 = static_cast<int>(fx1), y1 = static_cast<int>(fy1);
      for (int yy = y0 * scale; yy < y1 * scale; ++yy)
        for (int xx = x0 * scale; xx < x1 * scale; ++xx) dot(x + xx, y + yy, c);
    }
  }
  void write(const std::string& path) const {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    if (!stbi_write_png(tmp.c_str(), w_, h_, 3, px_.data(), w_ * 3))
      littlebit::detail::fail(path, ": cannot write the PNG");
    std::filesystem::rename(tmp, path);
  }

 private:
  int w_, h_;
  std::vector<unsigned char> px_;
};

/// One panel: series on a log10 y axis over steps [0, max_step], inside the box (x, y, w, h).
inline void draw_panel(Canvas& c, int x, int y, int w, int h, const std::string& title, const std::vector<Series>& series,
                       double max_step) {
  const unsigned char black[3] = {0, 0, 0}, grey[3] = {200, 200, 200};
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (auto [st, v] : s.points)
      if (v > 0 && std::isfinite(v)) {
        lo = std::min(lo, std::log10(v));
        hi = std::max(hi, std::log10(v));
      }
  c.text(x, y - 30, title, black);
  c.line(x, y, x, y + h, black);
  c.line(x, y + h, x + w, y + h, black);
  if (!(lo <= hi)) return;
  lo = std::floor(lo);
  hi = std::max(lo + 1, std::ceil(hi));
  for (double e = lo; e <= hi; e += 1) {  // a grid line per decade
    const int yy = y + h - static_cast<int>((e - lo) / (hi - lo) * h);
    c.line(x + 1, yy, x + w, yy, grey);
    char lab[32];
    std::snprintf(lab, sizeof lab, "1e%+d", static_cast<int>(e));
    c.text(x - 70, yy - 6, lab, black);
  }
  const double xmax = std::max(1.0, max_step);
  for (int k = 0; k <= 4; ++k) {
    char lab[32];
    std::snprintf(lab, sizeof lab, "%.0f", xmax * k / 4);
    c.text(x + w * k / 4 - 10, y + h + 8, lab, black);
  }
  c.text(x + w / 2 - 20, y + h + 30, "step", black);
  int ly = y + 8;
  for (const auto& s : series) {
    int px = -1, py = -1;
    for (auto [st, v] : s.points) {
      if (!(v > 0) || !std::isfinite(v)) continue;
      const int xx = x + static_cast<int>(st / xmax * w);
      const int yy = y + h - static_cast<int>((std::log10(v) - lo) / (hi - lo) * h);
      if (px >= 0) c.line(px, py, xx, yy, s.rgb, 2);
      else c.line(xx, yy, xx, yy, s.rgb, 3);
      px = xx;
      py = yy;
    }
    c.line(x + w - 260, ly + 6, x + w - 230, ly + 6, s.rgb, 3);
    c.text(x + w - 220, ly, s.label, black);
    ly += 26;
  }
}

inline void plot_run(const std::string& path, const std::string& title, const std::vector<Series>& losses,
                     const std::vector<Series>& evals, double max_step) {
  Canvas c(1200, 900);
  draw_panel(c, 110, 70, 1040, 330, title + ": training loss", losses, max_step);
  draw_panel(c, 110, 530, 1040, 300, "held-out perplexity", evals, max_step);
  c.write(path);
}

}  // namespace train
