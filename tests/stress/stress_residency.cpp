// The stress engine's residency operations (issue 8): declared kernels on several
// streams at once while another stream prefetches asynchronously in both directions
// (evicting), with advice, attach and policy changes in between; every range a
// kernel wrote is then verified against the model.
#include <algorithm>
#include <string>
#include <vector>

#include "stress_internal.hpp"
#include "umpager/kernels.hpp"

namespace umpager::stress::detail {
void engine::hint(std::mt19937_64& rng) {
  const range r = pick_range(rng);
  void* p = allocs_[r.a].host + r.first * kWords;
  const std::size_t bytes = r.pages * kPage;
  try {
    // Not read-mostly here: undeclared kernels (quiescent_ops) write ranges, and a
    // read-mostly page's host copy stays valid unless its writer is declared
    // (docs/api.md). read_mostly_op tests it where only declared work writes.
    switch (rng() % 5) {
      case 0: rt_->advise(p, bytes, advice::set_preferred_location, rng() % 2 ? location::host : location::device); break;
      case 1: rt_->advise(p, bytes, advice::unset_preferred_location); break;
      case 2: {
        const policy_kind kinds[] = {policy_kind::lru, policy_kind::fifo, policy_kind::clock, policy_kind::adaptive};
        rt_->set_policy(kinds[rng() % 4]);
        break;
      }
      default: {
        const range_info q = rt_->query(p, bytes);
        if (q.pages.size() != r.pages) fail("query returned " + std::to_string(q.pages.size()) + " pages for " + std::to_string(r.pages));
        break;
      }
    }
  } catch (const std::exception& e) {
    fail(std::string("residency hint threw: ") + e.what());
  }
  ++res_.hints;
  beat();
}

void engine::residency_ops(std::mt19937_64& rng) {
  ctl_.kind.store(k_controller);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  // Up to three disjoint ranges, each declared and written by a kernel on its own
  // stream; their chunks together may exceed the device: later ones wait for pins.
  std::vector<range> ranges;
  std::vector<std::uint32_t> deltas;
  const unsigned n = 1 + static_cast<unsigned>(rng() % kernel_streams_.size());
  for (unsigned tries = 0; ranges.size() < n && tries < 8; ++tries) {
    range r = pick_range(rng);
    r.pages = std::max<std::size_t>(1, std::min(r.pages, budget_pages_ / 2));
    auto overlaps = [&](const range& o) { return o.a == r.a && o.first < r.first + r.pages && r.first < o.first + o.pages; };
    if (std::none_of(ranges.begin(), ranges.end(), overlaps)) ranges.push_back(r);
  }
  // Attached to its stream, the first range's allocation may be declared there only.
  const bool attach_single =
      rng() % 4 == 0 && std::none_of(ranges.begin() + 1, ranges.end(), [&](const range& o) { return o.a == ranges[0].a; });
  try {
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const range& r = ranges[i];
      alloc_model& a = allocs_[r.a];
      stream& st = *kernel_streams_[i];
      if (attach_single && i == 0) rt_->attach(a.host, attach_to::single, st);
      const auto delta = static_cast<std::uint32_t>(rng() | 1);
      const access set[] = {{a.host + r.first * kWords, r.pages * kPage,
                             rng() % 2 ? access_mode::read_write : access_mode::write}};
      if (rng() % 3 == 0) {
        // Through the accessor: the range is reached where it is (device memory where
        // resident and held, else host memory), chunks move by access counts.
        const auto span = rt_->reach(a.host + r.first * kWords, r.pages * kWords);
        const access reach[] = {{set[0].ptr, set[0].bytes, access_mode::read_write, access_kind::reachable}};
        rt_->launch([span, delta] { for (std::size_t x = 0; x < span.size(); ++x) span[x] += delta; }, st, reach);
        ++res_.reached;
      } else if (rng() % 2) {
        declaration d = rt_->declare(set, st);
        kernels::add(rt_->device_driver(), st.handle(), a.dev + r.first * kWords, r.pages * kWords, delta);
      } else {
        std::uint32_t* dev = a.dev + r.first * kWords;
        const std::size_t words = r.pages * kWords;
        rt_->launch([dev, words, delta] { for (std::size_t x = 0; x < words; ++x) dev[x] += delta; }, st, set);
      }
      deltas.push_back(delta);
      ++res_.declared;
      // Meanwhile another stream moves other ranges both ways (evicting, waiting for pins).
      const range o = pick_range(rng);
      const completion c =
          rt_->prefetch(allocs_[o.a].host + o.first * kWords, o.pages * kPage,
                        rng() % 3 == 0 ? location::host : location::device, *s_bg_);
      ++res_.prefetches;
      if (rng() % 2) c.synchronize();
      if (rng() % 4 == 0) hint(rng);
      beat();
    }
    rt_->device_synchronize();
    if (attach_single && !ranges.empty()) rt_->attach(allocs_[ranges[0].a].host, attach_to::global);
  } catch (const std::exception& e) {
    fail(std::string("declared kernels threw: ") + e.what());
    rt_->device_synchronize();
    ctl_.active.store(false);
    return;
  }
  for (std::size_t i = 0; i < deltas.size(); ++i) {
    const range& r = ranges[i];
    alloc_model& a = allocs_[r.a];
    for (std::size_t x = 0; x < r.pages * kWords; ++x) a.shadow[r.first * kWords + x] += deltas[i];
    ++res_.kernels;
  }
  for (const range& r : ranges) verify(r.a, r.first, r.pages, "read back after declared kernels");
  const stats s = snapshot();
  check_budget(s, "declared kernels");
  read_mostly_op(rng);
  ctl_.active.store(false);
}

void engine::read_mostly_op(std::mt19937_64& rng) {
  // Read-mostly: after a prefetch both copies are valid, a CPU write invalidates
  // only its page's device copy, and a declared kernel still sees the CPU's writes.
  const range r = pick_range(rng);
  alloc_model& a = allocs_[r.a];
  std::uint32_t* host = a.host + r.first * kWords;
  try {
    rt_->advise(host, r.pages * kPage, advice::set_read_mostly);
    rt_->prefetch(host, r.pages * kPage, location::device, *s_bg_).synchronize();
    verify(r.a, r.first, r.pages, "read of a read-mostly range");
    const std::size_t page = rng() % r.pages;
    const auto v = static_cast<std::uint32_t>(rng());
    host[page * kWords] = v;
    a.shadow[(r.first + page) * kWords] = v;
    const auto delta = static_cast<std::uint32_t>(rng() | 1);
    const access set[] = {{host, r.pages * kPage, access_mode::read_write}};
    {
      declaration d = rt_->declare(set, *s_bg_);
      kernels::add(rt_->device_driver(), s_bg_->handle(), a.dev + r.first * kWords, r.pages * kWords, delta);
    }
    s_bg_->synchronize();
    for (std::size_t x = 0; x < r.pages * kWords; ++x) a.shadow[r.first * kWords + x] += delta;
    ++res_.kernels;
    ++res_.declared;
    verify(r.a, r.first, r.pages, "read after a declared kernel on a read-mostly range");
    rt_->advise(host, r.pages * kPage, advice::unset_read_mostly);
  } catch (const std::exception& e) {
    fail(std::string("read-mostly op threw: ") + e.what());
  }
}

}  // namespace umpager::stress::detail
