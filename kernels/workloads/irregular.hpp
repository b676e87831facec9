// The workloads with reuse or random order: GUPS-style random update, CSR SpMV
// (the vector reused by every tile) and tiled matrix multiply (panels reused).
// Same conventions as streaming.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "streaming.hpp"

namespace umpager::kernels::workloads::detail {

// ---- GUPS: each tile XORs random words of a random set of 2 MiB blocks -------------

constexpr std::size_t gups_block_words = (std::size_t{2} << 20) / 8;  // one device chunk of uint64
constexpr unsigned gups_max_set = 64;

struct gups_op {
  std::uint64_t* table;
  std::uint32_t set[gups_max_set];
  unsigned k;
  std::uint64_t tile_seed;
  /// Update i: block set[i % k], word (i / k) * odd + offset mod block (distinct per block).
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const {
    const std::uint64_t word = ((i / k) * 0x9e3779b1ULL + tile_seed) & (gups_block_words - 1);
    table[set[i % k] * gups_block_words + word] ^= mix(tile_seed + i);
  }
};

template <class X>
std::string gups(X& x, const params& p) {
  const std::size_t blocks = std::max<std::size_t>(1, p.data_bytes / (gups_block_words * 8));
  // Sets of four tiles' worth of blocks (half the budget with the bench's default tile).
  const unsigned k = static_cast<unsigned>(std::clamp<std::size_t>(4 * p.tile_bytes / (gups_block_words * 8), 1,
                                                                   std::min<std::size_t>(blocks, gups_max_set)));
  const std::size_t n = blocks * gups_block_words, updates = k * gups_block_words / 4;
  const std::size_t tiles_per_round = (blocks + k - 1) / k;
  auto* t = x.template alloc<std::uint64_t>(n);
  std::vector<std::uint64_t> ref(n);
  for (std::size_t i = 0; i < n; ++i) ref[i] = t[i] = i;
  std::vector<std::uint32_t> order(blocks);
  std::vector<gups_op> ops;  // every tile's update, replayed on the host for the check
  x.start();
  for (std::size_t tile = 0; tile < tiles_per_round * p.passes; ++tile) {
    // A random set of k distinct blocks (a partial Fisher-Yates shuffle).
    std::iota(order.begin(), order.end(), 0u);
    gups_op op{x.dev(t), {}, k, mix(p.seed * 1000003 + tile)};
    std::vector<access> set;
    for (unsigned j = 0; j < k; ++j) {
      std::swap(order[j], order[j + mix(op.tile_seed + j) % (blocks - j)]);
      op.set[j] = order[j];
      set.push_back({t + order[j] * gups_block_words, gups_block_words * 8, access_mode::read_write});
    }
    x.tile(set, updates, op);
    op.table = ref.data();
    ops.push_back(op);
    // Twice a round, the CPU reads and flips the first page of one block.
    if (tile % std::max<std::size_t>(1, tiles_per_round / 2) == 0) {
      const std::size_t b = mix(op.tile_seed) % blocks;
      std::uint64_t* w = t + b * gups_block_words;
      const access cpu_set[] = {{w, 4096, access_mode::read_write}};
      x.cpu(cpu_set);
      for (std::size_t i = 0; i < 512; ++i) w[i] = ~w[i];
      x.cpu_done(cpu_set);
      ops.push_back(gups_op{nullptr, {static_cast<std::uint32_t>(b)}, 0, 0});  // k == 0 marks the CPU flip
    }
  }
  x.stop();
  for (const gups_op& op : ops) {
    if (op.k == 0) {
      for (std::size_t i = 0; i < 512; ++i) ref[op.set[0] * gups_block_words + i] ^= ~std::uint64_t{0};
    } else {
      for (std::size_t i = 0; i < updates; ++i) op(i);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i] != ref[i]) return mismatch("table", i, t[i], ref[i]);
  }
  return "";
}

// ---- GUPS over the whole table: no binning, the accessor reaches any word ----------

/// A read-modify-write of one word that parallel kernel threads cannot lose: XOR
/// (GUPS's update; the check replays them in order) or add (a count).
enum class word_op { xor_in, add };
UMPAGER_HOST_DEVICE inline void update_word(std::uint64_t* w, std::uint64_t v, word_op op) {
#if defined(__CUDA_ARCH__)
  auto* p = reinterpret_cast<unsigned long long*>(w);
  if (op == word_op::xor_in) atomicXor(p, static_cast<unsigned long long>(v));
  else atomicAdd(p, static_cast<unsigned long long>(v));
#else
  if (op == word_op::xor_in) __atomic_fetch_xor(w, v, __ATOMIC_RELAXED);
  else __atomic_fetch_add(w, v, __ATOMIC_RELAXED);
#endif
}

struct gups_table_op {
  device_span<std::uint64_t> t;
  std::uint64_t seed;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const {
    const std::uint64_t h = mix(seed + i);
    update_word(&t[h % t.size()], h, word_op::xor_in);
  }
};

/// Every launch updates random words of the whole table, declared reachable (params::reach_resident: resident, today's rule, which needs the
/// table to fit). Launches of tile_bytes / 8 updates, passes × the table's words in all.
template <class X>
std::string gups_table(X& x, const params& p) {
  const std::size_t words = std::max<std::size_t>(1, p.data_bytes / 8);
  auto* t = x.template alloc<std::uint64_t>(words);
  std::vector<std::uint64_t> ref(words);
  for (std::size_t i = 0; i < words; ++i) ref[i] = t[i] = i;
  const auto span = x.span(t, words);
  const std::size_t per_launch = std::max<std::size_t>(1, p.tile_bytes / 8);
  const std::size_t launches = std::max<std::size_t>(1, p.passes * words / per_launch);
  const access set[] = {{t, words * 8, access_mode::read_write,
                         p.reach_resident ? access_kind::resident : access_kind::reachable}};
  const std::size_t per_pass = std::max<std::size_t>(1, launches / p.passes);
  const std::size_t flip = std::min<std::size_t>(words, 512);  // the CPU's page
  std::size_t flips = 0;
  x.start();
  for (std::size_t l = 0; l < launches; ++l) {
    x.tile(set, per_launch, gups_table_op{span, mix(p.seed * 7919 + l)});
    // After each pass but the last, the CPU reads and flips the first page.
    if ((l + 1) % per_pass == 0 && l + 1 < launches) {
      const access cpu_set[] = {{t, flip * 8, access_mode::read_write}};
      x.cpu(cpu_set);
      for (std::size_t i = 0; i < flip; ++i) t[i] = ~t[i];
      x.cpu_done(cpu_set);
      ++flips;
    }
  }
  x.stop();
  if (flips % 2 == 1) {
    for (std::size_t i = 0; i < flip; ++i) ref[i] = ~ref[i];
  }
  for (std::size_t l = 0; l < launches; ++l) {
    const std::uint64_t seed = mix(p.seed * 7919 + l);
    for (std::size_t i = 0; i < per_launch; ++i) {
      const std::uint64_t h = mix(seed + i);
      ref[h % words] ^= h;
    }
  }
  for (std::size_t i = 0; i < words; ++i) {
    if (t[i] != ref[i]) return mismatch("table", i, t[i], ref[i]);
  }
  return "";
}

// ---- BFS on an R-MAT graph through the accessor: one launch a level -------------------

/// Sets `w` to `v` if it still holds `expected` (one of several writers of a vertex wins).
UMPAGER_HOST_DEVICE inline void set_if(std::uint32_t* w, std::uint32_t expected, std::uint32_t v) {
#if defined(__CUDA_ARCH__)
  atomicCAS(w, expected, v);
#else
  __atomic_compare_exchange_n(w, &expected, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#endif
}

constexpr std::uint32_t bfs_unvisited = ~std::uint32_t{0};

/// Top-down, level-synchronous: every vertex at `level` visits its neighbours.
struct bfs_level_op {
  device_span<std::uint32_t> row_ptr, col, level;
  std::uint32_t at;
  UMPAGER_HOST_DEVICE void operator()(std::size_t v) const {
    if (level[v] != at) return;
    for (std::uint32_t j = row_ptr[v]; j < row_ptr[v + 1]; ++j) set_if(&level[col[j]], bfs_unvisited, at + 1);
  }
};

/// A directed R-MAT graph (a, b, c = 0.57, 0.19, 0.19; 16 edges a vertex; seeded) in
/// CSR, then BFS from vertex 0, one launch a level until no vertex is reached; the
/// levels are checked against a host BFS. The three arrays are declared reachable
/// (resident: params::reach_resident).
template <class X>
std::string bfs(X& x, const params& p) {
  constexpr std::size_t degree = 16;
  const std::size_t n = std::max<std::size_t>(1024, p.data_bytes / (8 + 4 * degree)), m = n * degree;
  unsigned scale = 1;
  while ((std::size_t{1} << scale) < n) ++scale;  // R-MAT's ids, folded into [0, n)
  auto* row_ptr = x.template alloc<std::uint32_t>(n + 1);
  auto* col = x.template alloc<std::uint32_t>(m);
  auto* level = x.template alloc<std::uint32_t>(n);
  // Edges, then a counting sort by source into CSR (on the host, in the arrays).
  std::vector<std::uint32_t> src(m), dst(m);
  std::uint64_t r = mix(p.seed * 0x51ed27ULL);
  for (std::size_t e = 0; e < m; ++e) {
    std::uint32_t u = 0, v = 0;
    for (unsigned b = 0; b < scale; ++b) {
      r = mix(r);
      const double q = static_cast<double>(r >> 11) * 0x1.0p-53;
      const unsigned quad = q < 0.57 ? 0 : q < 0.76 ? 1 : q < 0.95 ? 2 : 3;
      u = (u << 1) | (quad >> 1);
      v = (v << 1) | (quad & 1);
    }
    src[e] = static_cast<std::uint32_t>(u % n);
    dst[e] = static_cast<std::uint32_t>(v % n);
  }
  std::vector<std::uint32_t> next(n + 1, 0);
  for (std::size_t e = 0; e < m; ++e) ++next[src[e] + 1];
  for (std::size_t v = 0; v < n; ++v) next[v + 1] += next[v];
  for (std::size_t v = 0; v <= n; ++v) row_ptr[v] = next[v];
  for (std::size_t e = 0; e < m; ++e) col[next[src[e]]++] = dst[e];
  for (std::size_t v = 0; v < n; ++v) level[v] = bfs_unvisited;
  level[0] = 0;
  // The reference levels.
  std::vector<std::uint32_t> ref(n, bfs_unvisited), frontier{0}, grown;
  ref[0] = 0;
  for (std::uint32_t at = 0; !frontier.empty(); ++at) {
    grown.clear();
    for (std::uint32_t v : frontier) {
      for (std::uint32_t j = row_ptr[v]; j < row_ptr[v + 1]; ++j) {
        if (ref[col[j]] == bfs_unvisited) {
          ref[col[j]] = at + 1;
          grown.push_back(col[j]);
        }
      }
    }
    frontier.swap(grown);
  }
  const auto kind = p.reach_resident ? access_kind::resident : access_kind::reachable;
  const access set[] = {{row_ptr, (n + 1) * 4, access_mode::read, kind},
                        {col, m * 4, access_mode::read, kind},
                        {level, n * 4, access_mode::read_write, kind}};
  const bfs_level_op base{x.span(row_ptr, n + 1), x.span(col, m), x.span(level, n), 0};
  x.start();
  const std::uint32_t depth = *std::max_element(ref.begin(), ref.end(), [](std::uint32_t a, std::uint32_t b) {
    return (a == bfs_unvisited ? 0 : a) < (b == bfs_unvisited ? 0 : b);
  });
  for (std::uint32_t at = 0; at <= depth; ++at) {
    bfs_level_op op = base;
    op.at = at;
    x.tile(set, n, op);
    if (at == 1) {  // the CPU looks at the first page of levels between two launches
      const access cpu_set[] = {{level, std::min<std::size_t>(n * 4, 4096), access_mode::read}};
      x.cpu(cpu_set);
      std::size_t seen = 0;  // vertex 0 is at level 0: at least one
      for (std::size_t v = 0; v < std::min<std::size_t>(n, 1024); ++v) seen += level[v] <= 2;
      x.cpu_done(cpu_set);
      if (seen == 0) return mismatch("level", 0, level[0], 0);
    }
  }
  x.stop();
  for (std::size_t v = 0; v < n; ++v) {
    if (level[v] != ref[v]) return mismatch("level", v, level[v], ref[v]);
  }
  return "";
}

// ---- Hash-table probes through the accessor --------------------------------------

/// Key k of the build (never 0, the empty slot) and of probe i of a launch.
UMPAGER_HOST_DEVICE inline std::uint64_t hash_key(std::uint64_t k) { return mix(k) | 1; }

struct hash_probe_op {
  device_span<std::uint64_t> slots;  ///< open addressing, linear probing; 0 = empty
  device_span<std::uint64_t> hits;   ///< one counter a launch
  std::size_t launch;
  std::uint64_t keys;                ///< keys inserted: probe keys below 2 * keys, half of them present
  std::uint64_t seed;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const {
    const std::uint64_t key = hash_key(mix(seed + i) % (2 * keys));
    const std::size_t n = slots.size();
    for (std::size_t s = mix(key) % n;; s = (s + 1) % n) {
      const std::uint64_t at = slots[s];
      if (at == key) {
        update_word(&hits[launch], 1, word_op::add);
        return;
      }
      if (at == 0) return;
    }
  }
};

/// A table half full of keys (built on the host), then launches of tile_bytes / 8
/// random probes each, half of them for keys present; the hits of each launch are
/// checked against the host's. Both arrays declared reachable (params::reach_resident:
/// resident).
template <class X>
std::string hash_probe(X& x, const params& p) {
  const std::size_t n = std::max<std::size_t>(1024, p.data_bytes / 8);
  const std::uint64_t keys = n / 2;
  const std::size_t per_launch = std::max<std::size_t>(1, p.tile_bytes / 8);
  const std::size_t launches = std::max<std::size_t>(2, p.passes * n / per_launch / 4);
  auto* slots = x.template alloc<std::uint64_t>(n);
  auto* hits = x.template alloc<std::uint64_t>(launches);
  auto insert = [&](std::uint64_t key) {
    for (std::size_t s = mix(key) % n;; s = (s + 1) % n) {
      if (slots[s] == 0) {
        slots[s] = key;
        return;
      }
    }
  };
  for (std::uint64_t k = 0; k < keys; ++k) insert(hash_key(k));
  const auto kind = p.reach_resident ? access_kind::resident : access_kind::reachable;
  const access set[] = {{slots, n * 8, access_mode::read, kind}, {hits, launches * 8, access_mode::read_write, kind}};
  const auto table = x.span(slots, n);
  const auto counts = x.span(hits, launches);
  x.start();
  for (std::size_t l = 0; l < launches; ++l) {
    x.tile(set, per_launch, hash_probe_op{table, counts, l, keys, mix(p.seed * 104729 + l)});
    if (l == launches / 2) {  // the CPU reads the counters so far between two launches
      const access cpu_set[] = {{hits, launches * 8, access_mode::read}};
      x.cpu(cpu_set);
      std::uint64_t so_far = 0;
      for (std::size_t j = 0; j <= l; ++j) so_far += hits[j];
      x.cpu_done(cpu_set);
      if (so_far == 0) return "hits: no probe found its key in half the launches";
    }
  }
  x.stop();
  for (std::size_t l = 0; l < launches; ++l) {
    const std::uint64_t seed = mix(p.seed * 104729 + l);
    std::uint64_t want = 0;
    for (std::size_t i = 0; i < per_launch; ++i) want += mix(seed + i) % (2 * keys) < keys;
    if (hits[l] != want) return mismatch("hits", l, hits[l], want);
  }
  return "";
}

// ---- CSR SpMV: y = A x, rows in tiles, x read by every tile; the CPU makes x from y --

constexpr unsigned spmv_nnz_per_row = 8;

struct spmv_op {
  const std::uint32_t* row_ptr;
  const std::uint32_t* col;
  const std::uint32_t* val;
  const std::uint32_t* x;
  std::uint32_t* y;
  std::size_t r0;
  UMPAGER_HOST_DEVICE void operator()(std::size_t k) const {
    const std::size_t r = r0 + k;
    std::uint32_t sum = 0;
    for (std::uint32_t j = row_ptr[r]; j < row_ptr[r + 1]; ++j) sum += val[j] * x[col[j]];
    y[r] = sum;
  }
};

template <class X>
std::string spmv(X& x, const params& p) {
  constexpr unsigned k = spmv_nnz_per_row;
  // One allocation of whole chunks holds the five arrays, each starting on a page.
  const std::size_t words = whole_chunks(p.data_bytes) / 4;
  const std::size_t rows = std::max<std::size_t>(page_words, (words - 2 * page_words) / (4 + 2 * k) / page_words * page_words);
  const std::size_t tile = std::clamp<std::size_t>(p.tile_bytes / (4 + 8 * k) / page_words * page_words, page_words,
                                                   rows);
  auto* row_ptr = x.template alloc<std::uint32_t>(words);
  auto* col = row_ptr + rows + page_words;
  auto* val = col + rows * k;
  auto* xv = val + rows * k;
  auto* y = xv + rows;
  for (std::size_t r = 0; r <= rows; ++r) row_ptr[r] = static_cast<std::uint32_t>(r * k);
  for (std::size_t j = 0; j < rows * k; ++j) {
    const std::uint64_t h = mix(j ^ (p.seed << 40));
    col[j] = static_cast<std::uint32_t>(h % rows);
    val[j] = static_cast<std::uint32_t>(h >> 56);
  }
  for (std::size_t r = 0; r < rows; ++r) xv[r] = static_cast<std::uint32_t>(r);
  std::vector<std::uint32_t> ref_x(xv, xv + rows), ref_y(rows);
  x.start();
  for (unsigned it = 0; it < p.passes; ++it) {
    for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
      const std::size_t m = std::min(tile, rows - r0);
      x.tile(list({{row_ptr + r0, (m + 1) * 4, access_mode::read},
                   {col + r0 * k, m * k * 4, access_mode::read},
                   {val + r0 * k, m * k * 4, access_mode::read},
                   {xv, rows * 4, access_mode::read},
                   {y + r0, m * 4, access_mode::write}}),
             m, spmv_op{x.dev(row_ptr), x.dev(col), x.dev(val), x.dev(xv), x.dev(y), r0});
    }
    if (it + 1 == p.passes) break;
    // The CPU makes the next vector from this result: reads all of y, writes all of x.
    const access set[] = {{y, rows * 4, access_mode::read}, {xv, rows * 4, access_mode::write}};
    x.cpu(set);
    for (std::size_t r = 0; r < rows; ++r) xv[r] = y[r] + 1;
    x.cpu_done(set);
  }
  x.stop();
  for (unsigned it = 0; it < p.passes; ++it) {
    const spmv_op ref{row_ptr, col, val, ref_x.data(), ref_y.data(), 0};
    for (std::size_t r = 0; r < rows; ++r) ref(r);
    if (it + 1 < p.passes) {
      for (std::size_t r = 0; r < rows; ++r) ref_x[r] = ref_y[r] + 1;
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (y[r] != ref_y[r]) return mismatch("y", r, y[r], ref_y[r]);
  }
  return "";
}

// ---- tiled matrix multiply: C (32x32) += A panel (16 x kp) . B panel (kp x 16) ----------
// A is m x K in row panels, B is K x n in column panels, C small: A's row panel i is
// reused across the column panels j, each B column panel across the row panels i.

constexpr std::size_t mm_dim = 32, mm_blk = 16, mm_nblk = mm_dim / mm_blk;

struct matmul_op {
  const std::uint32_t* a;  // block (i, kb): mm_blk x kp, row-major
  const std::uint32_t* b;  // block (kb, j): kp x mm_blk, row-major
  std::uint32_t* c;        // tile (i, j): mm_blk x mm_blk
  std::size_t kp;
  /// Row `r` of the C tile: all mm_blk columns at once (B's rows are contiguous).
  UMPAGER_HOST_DEVICE void operator()(std::size_t r) const {
    std::uint32_t acc[mm_blk] = {};
    for (std::size_t kk = 0; kk < kp; ++kk) {
      const std::uint32_t av = a[r * kp + kk];
      for (std::size_t j = 0; j < mm_blk; ++j) acc[j] += av * b[kk * mm_blk + j];
    }
    for (std::size_t j = 0; j < mm_blk; ++j) c[r * mm_blk + j] += acc[j];
  }
};

template <class X>
std::string matmul(X& x, const params& p) {
  // One allocation of whole chunks: A, B, then C; blocks of an eighth of a tile each
  // (fine enough that the data size follows the ratio), K a whole number of blocks.
  const std::size_t words = whole_chunks(p.data_bytes) / 4;
  const std::size_t kp = std::clamp<std::size_t>(p.tile_bytes / (8 * mm_blk * 4) / page_words * page_words, page_words,
                                                 (words - mm_dim * mm_dim) / (2 * mm_dim) / page_words * page_words);
  const std::size_t kb_count = std::max<std::size_t>(1, (words - mm_dim * mm_dim) / (2 * mm_dim) / kp);
  const std::size_t K = kb_count * kp, panel = mm_blk * kp;
  auto* a = x.template alloc<std::uint32_t>(2 * mm_dim * K + mm_dim * mm_dim);  // blocks (i, kb), i-major
  auto* b = a + mm_dim * K;                                                    // blocks (j, kb), j-major
  auto* c = b + K * mm_dim;                                                    // tiles (i, j)
  for (std::size_t e = 0; e < mm_dim * K; ++e) {
    a[e] = static_cast<std::uint32_t>(mix(e ^ p.seed) & 0xff);
    b[e] = static_cast<std::uint32_t>(mix(e ^ ~p.seed) & 0xff);
  }
  const auto a_blk = [&](std::size_t i, std::size_t kb) { return a + (i * kb_count + kb) * panel; };
  const auto b_blk = [&](std::size_t j, std::size_t kb) { return b + (j * kb_count + kb) * panel; };
  const auto c_tile = [&](std::size_t i, std::size_t j) { return c + (i * mm_nblk + j) * mm_blk * mm_blk; };
  // C(i,j) as the device computed it before the CPU phases changed B: the CPU phase
  // after row panel i adds 1 to the first row of B block (j 0, kb 0).
  const auto ref_entry = [&](std::size_t i, std::size_t j, std::size_t r, std::size_t col) {
    std::uint32_t sum = 0;
    for (std::size_t kb = 0; kb < kb_count; ++kb) {
      for (std::size_t kk = 0; kk < kp; ++kk) {
        std::uint32_t bv = b_blk(j, kb)[kk * mm_blk + col];
        if (j == 0 && kb == 0 && kk == 0) bv -= static_cast<std::uint32_t>(mm_nblk - 1 - i);
        sum += a_blk(i, kb)[r * kp + kk] * bv;
      }
    }
    return sum * p.passes;
  };
  x.start();
  for (unsigned pass = 0; pass < p.passes; ++pass) {
    for (std::size_t i = 0; i < mm_nblk; ++i) {
      for (std::size_t j = 0; j < mm_nblk; ++j) {
        for (std::size_t kb = 0; kb < kb_count; ++kb) {
          x.tile(list({{a_blk(i, kb), panel * 4, access_mode::read},
                       {b_blk(j, kb), panel * 4, access_mode::read},
                       {c, mm_dim * mm_dim * 4, access_mode::read_write}}),  // C is one page
                 mm_blk, matmul_op{x.dev(a_blk(i, kb)), x.dev(b_blk(j, kb)), x.dev(c_tile(i, j)), kp});
        }
      }
      if (pass + 1 == p.passes && i + 1 == mm_nblk) break;
      // The CPU reads the finished row panel of C and changes B for the next one.
      std::uint32_t* b0 = b_blk(0, 0);
      const access set[] = {{c_tile(i, 0), mm_nblk * mm_blk * mm_blk * 4, access_mode::read},
                             {b0, mm_blk * 4, access_mode::read_write}};
      x.cpu(set);
      const std::uint32_t delta = (i + 1 == mm_nblk) ? static_cast<std::uint32_t>(-(mm_nblk - 1)) : 1u;
      for (std::size_t j = 0; j < mm_blk; ++j) b0[j] += delta;  // back to the start after each pass
      x.cpu_done(set);
    }
  }
  x.stop();
  for (std::size_t i = 0; i < mm_nblk; ++i) {
    for (std::size_t j = 0; j < mm_nblk; ++j) {
      for (unsigned s = 0; s < 4; ++s) {  // four sampled entries per tile: each costs K products
        const std::size_t r = mix(i * 131 + j * 17 + s) % mm_blk, col = mix(s * 7 + i + j) % mm_blk;
        const std::uint32_t got = c_tile(i, j)[r * mm_blk + col], want = ref_entry(i, j, r, col);
        if (got != want) {
          return "C tile (" + std::to_string(i) + "," + std::to_string(j) + ") " +
                 mismatch("entry", r * mm_blk + col, got, want);
        }
      }
    }
  }
  return "";
}

}  // namespace umpager::kernels::workloads::detail
