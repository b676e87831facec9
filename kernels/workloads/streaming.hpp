// The streaming workloads: stream triad and the 2D stencil with halos. Each is a
// template over an executor (executors.hpp) and returns what its check found
// wrong ("" when the result is right). Integer arithmetic (mod 2^32) so the check
// is exact on every backend.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "executors.hpp"

namespace umpager::kernels::workloads::detail {

UMPAGER_HOST_DEVICE inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline std::string mismatch(const char* what, std::size_t i, std::uint64_t got, std::uint64_t want) {
  return std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(got) + ", expected " +
         std::to_string(want);
}

constexpr std::size_t page_words = 1024;  // uint32 words per 4 KiB page
constexpr std::size_t chunk_bytes = std::size_t{2} << 20;  // the device chunk all drivers use

/// `bytes` rounded down to whole chunks (at least one): with every array a whole
/// number of chunks, a workload of data_bytes needs no more device memory than that.
inline std::size_t whole_chunks(std::size_t bytes) { return std::max(chunk_bytes, bytes / chunk_bytes * chunk_bytes); }

// ---- stream triad: a = b + s*c, tile by tile, `passes` sweeps ---------------------

struct triad_op {
  std::uint32_t* a;
  const std::uint32_t* b;
  const std::uint32_t* c;
  std::uint32_t s;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { a[i] = b[i] + s * c[i]; }
};

template <class X>
std::string triad(X& x, const params& p) {
  // One allocation of whole chunks holds a, b and c, each starting on a page.
  const std::size_t words = whole_chunks(p.data_bytes) / 4;
  const std::size_t n = words / 3 / page_words * page_words;
  const std::size_t tile = std::clamp<std::size_t>(p.tile_bytes / 12 / page_words * page_words, page_words, n);
  auto* a = x.template alloc<std::uint32_t>(words);
  auto* b = a + n;
  auto* c = b + n;
  const auto seed = static_cast<std::uint32_t>(p.seed);
  for (std::size_t i = 0; i < n; ++i) {
    b[i] = static_cast<std::uint32_t>(i) * 2654435761u + seed;
    c[i] = static_cast<std::uint32_t>(i) ^ seed;
  }
  const auto scalar = [](unsigned pass) { return static_cast<std::uint32_t>(pass + 3); };
  // The CPU phase after pass q reads a[slice] and adds 1 to b[slice].
  const auto slice = [&](unsigned q) { return (q * (n / 3 + page_words)) % n / page_words * page_words; };
  const std::size_t len = std::min(tile, n);
  x.start();
  std::string error;
  for (unsigned pass = 0; pass < p.passes; ++pass) {
    for (std::size_t i0 = 0; i0 < n; i0 += tile) {
      const std::size_t m = std::min(tile, n - i0);
      x.tile(list({{a + i0, m * 4, access_mode::write}, {b + i0, m * 4, access_mode::read},
                   {c + i0, m * 4, access_mode::read}}),
             m, triad_op{x.dev(a) + i0, x.dev(b) + i0, x.dev(c) + i0, scalar(pass)});
    }
    if (pass + 1 == p.passes) break;
    const std::size_t s0 = slice(pass), l = std::min(len, n - s0);
    const access set[] = {{a + s0, l * 4, access_mode::read}, {b + s0, l * 4, access_mode::read_write}};
    x.cpu(set);
    for (std::size_t i = s0; i < s0 + l; ++i) {
      const std::uint32_t want = b[i] + scalar(pass) * c[i];
      if (a[i] != want && error.empty()) error = "CPU phase: " + mismatch("a", i, a[i], want);
      b[i] += 1;
    }
    x.cpu_done(set);
  }
  x.stop();
  if (!error.empty()) return error;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bi = static_cast<std::uint32_t>(i) * 2654435761u + seed;
    for (unsigned q = 0; q + 1 < p.passes; ++q) bi += (i >= slice(q) && i < slice(q) + std::min(len, n - slice(q)));
    const std::uint32_t ci = static_cast<std::uint32_t>(i) ^ seed;
    if (b[i] != bi) return mismatch("b", i, b[i], bi);
    if (c[i] != ci) return mismatch("c", i, c[i], ci);
    const std::uint32_t want = bi + scalar(p.passes - 1) * ci;
    if (a[i] != want) return mismatch("a", i, a[i], want);
  }
  return "";
}

// ---- 2D stencil: five points, rows in tiles with one halo row each side -------------

constexpr std::size_t stencil_cols = 1024;  // one page per row

struct stencil_op {
  const std::uint32_t* in;  // the grid's row 0
  std::uint32_t* out;
  std::size_t rows, r0;
  UMPAGER_HOST_DEVICE void operator()(std::size_t k) const {
    const std::size_t r = r0 + k / stencil_cols, c = k % stencil_cols, i = r * stencil_cols + c;
    if (r == 0 || r + 1 == rows || c == 0 || c + 1 == stencil_cols) {
      out[i] = in[i];
    } else {
      out[i] = in[i] + in[i - 1] + in[i + 1] + in[i - stencil_cols] + in[i + stencil_cols];
    }
  }
};

template <class X>
std::string stencil(X& x, const params& p) {
  constexpr std::size_t C = stencil_cols;
  // One allocation of whole chunks holds both grids.
  const std::size_t rows = whole_chunks(p.data_bytes) / (8 * C);
  const std::size_t tile = std::clamp<std::size_t>(p.tile_bytes / (8 * C), 1, rows);
  std::uint32_t* const grids = x.template alloc<std::uint32_t>(2 * rows * C);
  std::uint32_t* g[2] = {grids, grids + rows * C};
  std::vector<std::uint32_t> ref(rows * C), tmp(rows * C);
  for (std::size_t i = 0; i < rows * C; ++i) ref[i] = g[0][i] = static_cast<std::uint32_t>(mix(i ^ p.seed));
  const auto band = [&](unsigned step) { return (step * (rows / 3 + 1)) % rows; };
  const std::size_t band_rows = std::max<std::size_t>(1, tile / 2);
  x.start();
  for (unsigned step = 0; step < p.passes; ++step) {
    std::uint32_t* in = g[step % 2];
    std::uint32_t* out = g[(step + 1) % 2];
    for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
      const std::size_t r1 = std::min(rows, r0 + tile);
      const std::size_t h0 = r0 == 0 ? 0 : r0 - 1, h1 = std::min(rows, r1 + 1);
      x.tile(list({{in + h0 * C, (h1 - h0) * C * 4, access_mode::read},
                   {out + r0 * C, (r1 - r0) * C * 4, access_mode::write}}),
             (r1 - r0) * C, stencil_op{x.dev(in), x.dev(out), rows, r0});
    }
    if (step + 1 == p.passes) break;
    const std::size_t b0 = band(step), b1 = std::min(rows, b0 + band_rows);
    const access set[] = {{out + b0 * C, (b1 - b0) * C * 4, access_mode::read_write}};
    x.cpu(set);
    for (std::size_t i = b0 * C; i < b1 * C; ++i) out[i] += 1;
    x.cpu_done(set);
  }
  x.stop();
  // The reference, on the host, outside the timed part: the same steps and bands.
  for (unsigned step = 0; step < p.passes; ++step) {
    for (std::size_t k = 0; k < rows * C; ++k) stencil_op{ref.data(), tmp.data(), rows, 0}(k);
    ref.swap(tmp);
    if (step + 1 == p.passes) break;
    const std::size_t b0 = band(step), b1 = std::min(rows, b0 + band_rows);
    for (std::size_t i = b0 * C; i < b1 * C; ++i) ref[i] += 1;
  }
  const std::uint32_t* result = g[p.passes % 2];
  for (std::size_t i = 0; i < rows * C; ++i) {
    if (result[i] != ref[i]) return mismatch("grid", i, result[i], ref[i]);
  }
  return "";
}

}  // namespace umpager::kernels::workloads::detail
