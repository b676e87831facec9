// The stress engine's shadow model and invariant checks (see stress_internal.hpp):
// reporting mismatches and failures, the statistics invariants, allocating and
// filling an allocation with its model, the epoch plan, and the controller's
// comparisons of managed memory with the model.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "stress_internal.hpp"
#include "umpager/kernels.hpp"

namespace umpager::stress::detail {

void engine::mismatch(const std::string& what) {
  if (mismatches_.fetch_add(1) == 0) {
    std::lock_guard g(report_mutex_);
    first_mismatch_ = what;
    std::fprintf(stderr, "umpager-stress: MISMATCH (seed %" PRIu64 "): %s\n", o_.seed, what.c_str());
  }
  end_epoch_ = true;
}

void engine::fail(const std::string& what) {
  if (failures_.fetch_add(1) == 0) {
    std::lock_guard g(report_mutex_);
    first_failure_ = what;
    std::fprintf(stderr, "umpager-stress: FAILURE (seed %" PRIu64 "): %s\n", o_.seed, what.c_str());
  }
  end_epoch_ = true;
}

stats engine::snapshot() {
  stats s = rt_->statistics();
  std::uint64_t seen = max_device_.load();
  while (s.device_bytes_in_use > seen && !max_device_.compare_exchange_weak(seen, s.device_bytes_in_use)) {
  }
  return s;
}

void engine::check_budget(const stats& s, const char* after) {
  if (s.device_bytes_in_use > budget_ * o_.devices) {
    fail(std::string("device memory over budget after ") + after + ": " + std::to_string(s.device_bytes_in_use) +
         " > " + std::to_string(budget_ * o_.devices));
  }
  for (unsigned k = 0; o_.devices > 1 && k < o_.devices; ++k) {  // one device: the total says it
    if (rt_->device_bytes_in_use(k) > budget_) fail(std::string("device ") + std::to_string(k) + " over budget after " + after);
  }
}

void engine::check_stats(const stats& s, bool quiescent) {
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) fail("statistics: " + what);
  };
  expect(s.bytes_to_device % kPage == 0, "bytes_to_device " + std::to_string(s.bytes_to_device) + " not a multiple of 4096");
  expect(s.bytes_to_host % kPage == 0, "bytes_to_host " + std::to_string(s.bytes_to_host) + " not a multiple of 4096");
  expect(s.pages_poisoned == 0, "pages_poisoned " + std::to_string(s.pages_poisoned) + " (no fault was injected)");
  expect(s.device_bytes_in_use <= budget_ * o_.devices, "device_bytes_in_use over budget");
  expect(s.device_bytes_in_use % chunk_ == 0, "device_bytes_in_use not a multiple of the chunk size");
  if (rt_->tracking() == tracking_mode::wp_async) {
    expect(s.wp_faults == 0, "wp_faults " + std::to_string(s.wp_faults) + " under wp_async tracking");
  } else {
    expect(s.written_pages_found == 0, "written_pages_found under sync tracking");
  }
  // Counters only grow.
  expect(s.read_faults >= last_.read_faults && s.write_faults >= last_.write_faults &&
             s.wp_faults >= last_.wp_faults && s.pages_continued >= last_.pages_continued &&
             s.bytes_to_device >= last_.bytes_to_device && s.bytes_to_host >= last_.bytes_to_host &&
             s.chunks_evicted >= last_.chunks_evicted && s.written_pages_found >= last_.written_pages_found,
         "a counter went down");
  if (quiescent) {
    // A page is copied home only when it is then mapped (fault, prefetch to host) or
    // its chunk is evicted. Resolvers count pages_continued after waking the thread,
    // so give them a moment to finish the last block.
    const std::uint64_t evicted_pages = s.chunks_evicted * (chunk_ / kPage);
    const stats settled = settle(s, [&](const stats& x) { return s.bytes_to_host / kPage <= x.pages_continued + evicted_pages; });
    expect(s.bytes_to_host / kPage <= settled.pages_continued + evicted_pages,
           "bytes_to_host/4096 = " + std::to_string(s.bytes_to_host / kPage) + " > pages_continued " +
               std::to_string(settled.pages_continued) + " + evicted chunk pages " + std::to_string(evicted_pages));
    std::uint64_t live = 0;
    for (const auto& a : allocs_) live += a.pages * kPage;
    expect(s.managed_bytes == live,
           "managed_bytes " + std::to_string(s.managed_bytes) + " != live allocations " + std::to_string(live));
  }
  last_ = s;
}

void engine::allocate_one(std::size_t index, std::mt19937_64& rng) {
  const std::size_t unit = std::max(o_.block, kPage);
  const std::size_t lo = std::max(unit, o_.min_alloc_bytes / unit * unit);
  const std::size_t hi = std::max(lo, o_.max_alloc_bytes / unit * unit);
  const std::size_t bytes = lo + (rng() % ((hi - lo) / unit + 1)) * unit;
  alloc_model& a = allocs_[index];
  a.buf = rt_->allocate(bytes);
  a.host = a.buf.as<std::uint32_t>();
  a.dev = static_cast<std::uint32_t*>(a.buf.device_data());
  a.pages = a.buf.size() / kPage;
  a.generation = next_generation_++;
  a.shadow.assign(a.pages * kWords, 0);
  init_alloc(a, rng);
}

void engine::init_alloc(alloc_model& a, std::mt19937_64& rng) {
  const std::size_t piece_pages = budget_chunks_ * (chunk_ / kPage);
  if (rng() % 2 == 0) {
    // CPU fill, then the first prefetch must upload exactly the piece (all pages host).
    const std::uint64_t salt = rng();
    for (std::size_t p = 0; p < a.pages; ++p) {
      for (std::size_t w = 0; w < kWords; ++w) {
        const std::size_t i = p * kWords + w;
        a.shadow[i] = static_cast<std::uint32_t>(splitmix(salt + i));
        store(a.host + i, a.shadow[i]);
      }
      beat();
    }
    const std::size_t n = std::min(piece_pages, a.pages);
    const stats s0 = snapshot();
    prefetch_at(a.host, n * kPage, location::device, *s_);
    ++res_.prefetches;
    const stats s1 = snapshot();
    if (s1.bytes_to_device - s0.bytes_to_device != n * kPage) {
      fail("first prefetch of a CPU-filled allocation uploaded " + std::to_string(s1.bytes_to_device - s0.bytes_to_device) +
           " bytes, expected " + std::to_string(n * kPage));
    }
    check_budget(s1, "first prefetch");
  } else {
    // Device fill, piece by piece: each first prefetch uploads exactly its piece.
    for (std::size_t p = 0; p < a.pages; p += piece_pages) {
      const std::size_t n = std::min(piece_pages, a.pages - p);
      const stats s0 = snapshot();
      prefetch_at(a.host + p * kWords, n * kPage, location::device, *s_);
      ++res_.prefetches;
      const stats s1 = snapshot();
      if (s1.bytes_to_device - s0.bytes_to_device != n * kPage) {
        fail("first prefetch of a fresh allocation uploaded " + std::to_string(s1.bytes_to_device - s0.bytes_to_device) +
             " bytes, expected " + std::to_string(n * kPage));
      }
      check_budget(s1, "first prefetch");
      const auto seed = static_cast<std::uint32_t>(rng());
      kernels::fill_index(rt_->device_driver(), s_->handle(), a.dev + p * kWords, n * kWords, seed);
      s_->synchronize();
      ++res_.kernels;
      after_kernel(static_cast<unsigned>(&a - allocs_.data()), p, n, *s_);
      for (std::size_t i = 0; i < n * kWords; ++i) a.shadow[p * kWords + i] = static_cast<std::uint32_t>(i) + seed;
      beat();
    }
  }
}

void engine::make_plan(std::mt19937_64& rng) {
  const unsigned T = o_.cpu_threads;
  for (auto& v : own_) v.clear();
  ro_.clear();
  locked_.clear();
  std::vector<std::vector<std::uint8_t>> is_locked(allocs_.size());
  for (std::size_t a = 0; a < allocs_.size(); ++a) is_locked[a].assign(allocs_[a].pages, 0);
  // 1: a locked page, 2: in the kernel window (no worker touches it).
  window_valid_ = false;
  if (o_.concurrent_kernels) {
    window_ = pick_range(rng);
    window_valid_ = true;
    for (std::size_t p = window_.first; p < window_.first + window_.pages; ++p) is_locked[window_.a][p] = 2;
  }
  for (unsigned i = 0; i < o_.locked_pages; ++i) {
    const auto a = static_cast<std::uint32_t>(rng() % allocs_.size());
    const auto p = static_cast<std::uint32_t>(rng() % allocs_[a].pages);
    if (is_locked[a][p]) continue;
    is_locked[a][p] = 1;
    auto slot = std::make_unique<locked_slot>();
    slot->ref = {a, p};
    slot->base0 = allocs_[a].shadow[p * kWords];
    slot->base1 = allocs_[a].shadow[p * kWords + kWords - 1];
    locked_.push_back(std::move(slot));
  }
  const unsigned ro_pct = 10 + static_cast<unsigned>(rng() % 60);
  for (std::uint32_t a = 0; a < allocs_.size(); ++a) {
    for (std::uint32_t p = 0; p < allocs_[a].pages; ++p) {
      if (is_locked[a][p]) continue;
      const std::uint64_t r = rng();
      if (r % 100 < ro_pct) ro_.push_back({a, p});
      else own_[(r >> 32) % T].push_back({a, p});
    }
  }
}

void engine::check_locked() {
  for (const auto& s : locked_) {
    const alloc_model& a = allocs_[s->ref.alloc];
    const std::size_t i = s->ref.page * kWords;
    const auto want0 = static_cast<std::uint32_t>(s->base0 + s->increments);
    const auto want1 = static_cast<std::uint32_t>(s->base1 + s->increments);
    const std::uint32_t got0 = load(a.host + i), got1 = load(a.host + i + kWords - 1);
    if (got0 != want0 || got1 != want1 || a.shadow[i] != want0) {
      std::ostringstream m;
      m << "epoch " << epoch_.load() << ": locked counter page " << s->ref.page << " of allocation " << s->ref.alloc
        << ": " << s->increments << " increments from " << hex(s->base0) << "/" << hex(s->base1) << " should give "
        << hex(want0) << "/" << hex(want1) << ", page holds " << hex(got0) << "/" << hex(got1);
      mismatch(m.str());
    }
    res_.words_checked += 2;
  }
}

void engine::verify(unsigned ai, std::size_t first, std::size_t pages, const char* why) {
  alloc_model& a = allocs_[ai];
  for (std::size_t p = first; p < first + pages; ++p) {
    for (std::size_t w = 0; w < kWords; ++w) {
      const std::size_t i = p * kWords + w;
      const std::uint32_t got = load(a.host + i);
      if (got != a.shadow[i]) {
        std::ostringstream m;
        m << "epoch " << epoch_.load() << " controller " << why << ": allocation " << ai << " (gen " << a.generation
          << ") page " << p << " word " << w << ": expected " << hex(a.shadow[i]) << ", read " << hex(got);
        mismatch(m.str());
        res_.words_checked += i - p * kWords;
        return;
      }
    }
    res_.words_checked += kWords;
    beat();
  }
}

}  // namespace umpager::stress::detail
