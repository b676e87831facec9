// The stress engine's controller (see stress_internal.hpp): prefetches in both
// directions while the workers run (and kernels on the epoch's window), then, alone,
// kernels, prefetches with exact statistics checks, range verification and
// reallocation.
#include <algorithm>
#include <chrono>
#include <exception>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "stress_internal.hpp"
#include "umpager/kernels.hpp"

namespace umpager::stress::detail {

engine::range engine::pick_range(std::mt19937_64& rng) {
  const auto a = static_cast<unsigned>(rng() % allocs_.size());
  const std::size_t P = allocs_[a].pages;
  const std::size_t maxp = std::min(P, budget_pages_);
  std::size_t len;
  const unsigned c = static_cast<unsigned>(rng() % 10);
  if (c < 3) len = 1 + rng() % 16;
  else if (c < 7) len = 1 + rng() % 512;
  else len = 1 + rng() % maxp;
  len = std::min(len, maxp);
  std::size_t first = rng() % (P - len + 1);
  if (rng() % 4 == 0) first = first / block_pages_ * block_pages_;
  const std::size_t ppc = chunk_ / kPage;
  auto span = [&] { return (first + len - 1) / ppc - first / ppc + 1; };
  while (len > 1 && span() > budget_chunks_) --len;
  return {a, first, len};
}

void engine::prefetch_at(const void* p, std::size_t bytes, location where, stream_view s, unsigned device,
                         bool wait) {
  if (!o_.inject_failures) {
    const completion c = rt_->prefetch(p, bytes, where, s, device);
    if (wait) c.synchronize();
    return;
  }
  for (unsigned tries = 0;; ++tries) {
    injecting = true;
    try {
      const completion c = rt_->prefetch(p, bytes, where, s, device);
      if (wait) c.synchronize();
      injecting = false;
      return;
    } catch (...) {
      injecting = false;
      if (tries == 1000) throw;  // not an injected failure: the same call keeps failing
      ++res_.prefetch_failures;
    }
  }
}

void engine::prefetch(const range& r, location where, stream_view s, unsigned device, bool wait) {
  prefetch_at(allocs_[r.a].host + r.first * kWords, r.pages * kPage, where, s, device, wait);
  ++res_.prefetches;
  beat();
}

void engine::after_kernel(unsigned a, std::size_t first, std::size_t pages, stream& st, bool quiescent,
                          unsigned device) {
  const stats s0 = snapshot();
  prefetch_at(allocs_[a].host + first * kWords, pages * kPage, location::device, st, device);
  ++res_.prefetches;
  const stats s1 = snapshot();
  // Only prefetches (this thread) upload and evict; resolvers copy home concurrently.
  if (s1.bytes_to_device != s0.bytes_to_device || (quiescent && demand_to_host(s1) != demand_to_host(s0)) ||
      s1.chunks_evicted != s0.chunks_evicted) {
    fail("prefetch of a range right after a kernel on it moved data: to_device +" +
         std::to_string(s1.bytes_to_device - s0.bytes_to_device) + " to_host +" +
         std::to_string(s1.bytes_to_host - s0.bytes_to_host) + " evicted +" +
         std::to_string(s1.chunks_evicted - s0.chunks_evicted));
  }
  beat();
}

void engine::concurrent_ops(std::mt19937_64& rng) {
  if (!o_.concurrent_prefetch) return;
  ctl_.kind.store(k_controller);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  for (int i = 0; i < 64 && workers_done_.load() < o_.cpu_threads && !end_epoch_.load(); ++i) {
    if (window_valid_ && rng() % 3 == 0) {
      window_kernel(rng);
      continue;
    }
    if (o_.residency && rng() % 16 == 0) {
      hint(rng);  // advice and policy changes while the workers fault
      continue;
    }
    const range r = pick_range(rng);
    const location where = rng() % 3 == 0 ? location::host : location::device;
    try {
      prefetch(r, where, *s_bg_, pick_device(rng));  // with several devices, chunks move under the faults
    } catch (const std::exception& e) {
      fail(std::string("concurrent prefetch threw: ") + e.what());
    }
    check_budget(snapshot(), "a concurrent prefetch");
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
    beat();
  }
  ctl_.active.store(false);
}

void engine::window_kernel(std::mt19937_64& rng) {
  const range& r = window_;
  alloc_model& a = allocs_[r.a];
  const std::size_t words = r.pages * kWords;
  try {
    prefetch(r, location::device, *s_bg_);
    check_budget(snapshot(), "prefetch before a concurrent kernel");
    const auto delta = static_cast<std::uint32_t>(rng() | 1);
    kernels::add(rt_->device_driver(), s_bg_->handle(), a.dev + r.first * kWords, words, delta);
    s_bg_->synchronize();
    for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] += delta;  // no worker reads the window
    ++res_.kernels;
    // No re-prefetch here (after_kernel): it would zap the window again and hide a host
    // copy that a resolver's read-ahead took while the kernel ran (docs/stress.md, bug 3).
  } catch (const std::exception& e) {
    fail(std::string("kernel on the window during the CPU phase threw: ") + e.what());
  }
  beat();
}

void engine::reallocate(std::mt19937_64& rng) {
  const auto ai = static_cast<unsigned>(rng() % allocs_.size());
  verify(ai, 0, allocs_[ai].pages, "verify before free");  // no write lost, whole allocation
  allocs_[ai].buf.reset();
  allocs_[ai].shadow.clear();
  allocs_[ai].pages = 0;
  const stats s = snapshot();
  check_budget(s, "free");
  allocate_one(ai, rng);
  ++res_.reallocations;
}

void engine::quiescent_ops(std::mt19937_64& rng) {
  ctl_.kind.store(k_controller);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  const unsigned n = 1 + static_cast<unsigned>(rng() % 4);
  for (unsigned i = 0; i < n && failures_.load() == 0; ++i) {
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    const range r = pick_range(rng);
    alloc_model& a = allocs_[r.a];
    const std::size_t words = r.pages * kWords;
    const unsigned k = pick_device(rng);
    stream& sk = *dev_streams_[k];
    std::uint32_t* dev = static_cast<std::uint32_t*>(rt_->device_pointer(a.host, k)) + r.first * kWords;
    const stats s0 = snapshot();
    if (dice < 35) {
      // Kernel add on a range made resident first.
      prefetch(r, location::device, sk, k);
      const stats s1 = snapshot();
      check_budget(s1, "prefetch before a kernel");
      if (s1.bytes_to_device - s0.bytes_to_device > r.pages * kPage) fail("prefetch uploaded more than its range");
      const auto delta = static_cast<std::uint32_t>(rng() | 1);
      kernels::add(rt_->device_driver(k), sk.handle(), dev, words, delta);
      sk.synchronize();
      after_kernel(r.a, r.first, r.pages, sk, true, k);
      for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] += delta;
      ++res_.kernels;
    } else if (dice < 45) {
      prefetch(r, location::device, sk, k);
      check_budget(snapshot(), "prefetch before a kernel");
      const auto seed = static_cast<std::uint32_t>(rng());
      kernels::fill_index(rt_->device_driver(k), sk.handle(), dev, words, seed);
      sk.synchronize();
      after_kernel(r.a, r.first, r.pages, sk, true, k);
      for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] = static_cast<std::uint32_t>(x) + seed;
      ++res_.kernels;
    } else if (dice < 60) {
      // Prefetch to device twice: the second moves nothing.
      prefetch(r, location::device, sk, k);
      const stats s1 = snapshot();
      check_budget(s1, "prefetch to device");
      if (s1.bytes_to_device - s0.bytes_to_device > r.pages * kPage) fail("prefetch uploaded more than its range");
      if (s1.chunks_evicted - s0.chunks_evicted > budget_chunks_) fail("one prefetch evicted more chunks than it maps");
      prefetch(r, location::device, sk, k);
      const stats s2 = snapshot();
      if (s2.bytes_to_device != s1.bytes_to_device || demand_to_host(s2) != demand_to_host(s1) ||
          s2.chunks_evicted != s1.chunks_evicted || s2.bytes_device_to_device != s1.bytes_device_to_device) {
        fail("a second prefetch of a resident, unwritten range moved data: to_device +" +
             std::to_string(s2.bytes_to_device - s1.bytes_to_device) + " to_host +" +
             std::to_string(s2.bytes_to_host - s1.bytes_to_host) + " evicted +" +
             std::to_string(s2.chunks_evicted - s1.chunks_evicted));
      }
    } else if (dice < 72) {
      // Prefetch to host: copies at most the range, uploads and evicts nothing, and
      // reading the range afterwards raises no fault. Under a host budget a prefetch
      // to the host pins nothing: with host memory full, the budget may spill part of
      // the range again before it is read (found by a soak: seed 24, --host-memory 16M,
      // after 634 s). Then each fault must have read its page back: from storage, or from
      // the device where the budget dropped a page whose device copy was still valid
      // (`shared`; found by a soak: seed 92, --block 4K --concurrent-kernels, a 3296-page
      // range under a 16 MiB budget, one chunk dropped after 2431 s).
      // An injected failure after the copies were enqueued retries the prefetch, and
      // each try may copy the range again.
      const std::uint64_t failures = res_.prefetch_failures;
      prefetch(r, location::host, *s_, 0, /*wait=*/true);
      const stats s1 = snapshot();
      const std::uint64_t tries = 1 + res_.prefetch_failures - failures;
      if (s1.bytes_to_device != s0.bytes_to_device || s1.chunks_evicted != s0.chunks_evicted ||
          demand_to_host(s1) - demand_to_host(s0) > tries * r.pages * kPage) {
        // Every counter that can explain a copy home, for the next reader of a failure.
        fail("prefetch to host of " + std::to_string(r.pages) + " pages (first " + std::to_string(r.first) +
             "): to_device +" + std::to_string(s1.bytes_to_device - s0.bytes_to_device) + " to_host +" +
             std::to_string(s1.bytes_to_host - s0.bytes_to_host) + " (read-ahead +" +
             std::to_string(s1.bytes_read_ahead - s0.bytes_read_ahead) + ") evicted +" +
             std::to_string(s1.chunks_evicted - s0.chunks_evicted) + " faults +" +
             std::to_string(s1.read_faults + s1.write_faults - s0.read_faults - s0.write_faults) + " stale +" +
             std::to_string(s1.stale_faults - s0.stale_faults) + " continued +" +
             std::to_string(s1.pages_continued - s0.pages_continued) + " from storage +" +
             std::to_string(s1.bytes_from_storage - s0.bytes_from_storage) + " to storage +" +
             std::to_string(s1.bytes_to_storage - s0.bytes_to_storage));
      }
      verify(r.a, r.first, r.pages, "read after prefetch to host");
      const stats s2 = snapshot();
      // A message the host budget's zap made stale is only woken (its fault comes again).
      const std::uint64_t faults = served_faults(s1, s2);
      const std::uint64_t from_storage = s2.bytes_from_storage - s1.bytes_from_storage;
      const std::uint64_t from_device = demand_to_host(s2) - demand_to_host(s1);
      const bool spilled_again = o_.host_memory != 0 && from_storage + from_device >= faults * kPage;
      if (faults != 0 && !spilled_again) {
        fail("reading " + std::to_string(r.pages) + " pages just prefetched to the host raised " +
             std::to_string(faults) + " faults; bytes read back meanwhile: from storage " +
             std::to_string(from_storage) + ", from the device by faults " + std::to_string(from_device));
      }
    } else if (dice < 84) {
      // Read back a device-resident range: every page comes home exactly once, and
      // is mapped by UFFDIO_CONTINUE.
      prefetch(r, location::device, sk, k);
      const stats s1 = snapshot();
      verify(r.a, r.first, r.pages, "read back after prefetch to device");
      // No settling: every counter below is bumped before the wake or the CONTINUE that
      // let this thread read the page, so it is exact once the read returns.
      const stats s2 = snapshot();
      const std::size_t first_block = r.first / block_pages_, end_block = (r.first + r.pages + block_pages_ - 1) / block_pages_;
      const std::uint64_t lo = r.pages * kPage, hi = (end_block - first_block) * block_pages_ * kPage;
      // Read-ahead may copy blocks of the range (before the scan reaches them) and
      // beyond it: all copies together cover the range, what faults copied stays in it.
      const std::uint64_t got = s2.bytes_to_host - s1.bytes_to_host;
      const std::uint64_t demand = demand_to_host(s2) - demand_to_host(s1);
      // Messages only woken (a zap meanwhile: the host budget releasing a chunk while a
      // fault on it was in flight, found by a soak, seed 92, --host-memory 16M, 503 s; or a
      // late duplicate of an earlier operation's fault) count as stale, not as served.
      const std::uint64_t faults = served_faults(s1, s2);
      if (got < lo || demand > hi || faults == 0 || faults > r.pages || s2.pages_continued - s1.pages_continued < r.pages) {
        fail("reading back " + std::to_string(r.pages) + " device pages (first " + std::to_string(r.first) +
             "): to_host +" + std::to_string(got) + " (expected >= " + std::to_string(lo) + "), of it by faults +" +
             std::to_string(demand) + " (expected <= " + std::to_string(hi) + "), faults +" + std::to_string(faults) + " (expected 1.." + std::to_string(r.pages) + "), continued +" +
             std::to_string(s2.pages_continued - s1.pages_continued) + " (expected >= " + std::to_string(r.pages) + ")");
      }
    } else if (dice < 94 && sim_) {
      // The device copy itself equals the model (read by a function on the device).
      prefetch(r, location::device, sk, k);
      check_budget(snapshot(), "prefetch to device");
      std::size_t bad_at = words;
      std::uint32_t bad_val = 0;
      const std::uint32_t* want = a.shadow.data() + r.first * kWords;
      rt_->launch(
          [&] {
            for (std::size_t x = 0; x < words; ++x) {
              if (dev[x] != want[x]) {
                bad_at = x;
                bad_val = dev[x];
                break;
              }
            }
          },
          sk);
      sk.synchronize();
      res_.words_checked += words;
      ++res_.device_checks;
      if (bad_at != words) {
        std::ostringstream m;
        m << "epoch " << epoch_.load() << " device copy: allocation " << r.a << " page " << r.first + bad_at / kWords
          << " word " << bad_at % kWords << ": expected " << hex(want[bad_at]) << ", device holds " << hex(bad_val);
        mismatch(m.str());
      }
    } else {
      verify(r.a, r.first, r.pages, "verify range");
    }
    beat();
  }
  if (rng() % 40 == 0) reallocate(rng);
  ctl_.active.store(false);
}

}  // namespace umpager::stress::detail
