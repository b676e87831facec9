// Issue 12's exception-safety matrix, table-driven: for every transition (fault,
// read-ahead, prefetch to device and to host, move between devices, eviction, free),
// every throwing driver call it makes (counted in a dry run), each step (the 1st,
// 2nd, ... call of that method), and each exception (the two the interface documents
// and three it does not), a fresh runtime runs the transition with that one call
// failing. Afterwards: every word is right, device_bytes_in_use matches the chunks the
// drivers have mapped (nothing leaked), a faulting thread got SIGBUS only when its
// page's copy really failed, and the runtime still works (prefetch, kernel, read back).
//
// The full matrix runs in the release build; sanitizer builds (UMPAGER_MATRIX_SAMPLE)
// run the first step of each call with two exceptions.
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "failing_driver.hpp"
#include "runtime_fixture.hpp"
#include "sigbus_guard.hpp"

namespace umpager::testing {
namespace {

constexpr std::size_t kChunk = std::size_t{64} << 10;  // small chunks keep each cell cheap
constexpr std::size_t kBlock = std::size_t{16} << 10;
constexpr std::size_t kBytes = 4 * kChunk;
constexpr std::size_t kWords = kBytes / 4;
/// The steps tried per driver call: its first, second and last call in the transition
/// (a transition over 4 chunks repeats the second chunk's path in the third). The
/// sanitizer builds try the first only.
std::vector<unsigned> steps(unsigned calls) {
#ifdef UMPAGER_MATRIX_SAMPLE
  return calls == 0 ? std::vector<unsigned>{} : std::vector<unsigned>{1};
#else
  std::vector<unsigned> out;
  for (unsigned n : {1u, 2u, calls}) {
    if (n >= 1 && n <= calls && (out.empty() || out.back() < n)) out.push_back(n);
  }
  return out;
#endif
}

/// The moves: by peer copy (the target's driver copies), or through the host (no
/// peer access), failing on the source's driver or on the target's.
enum class transition { fault, read_ahead, to_device, to_host, move_peer, move_host_source, move_host_target, eviction, free_ };

const char* to_string(transition t) {
  static constexpr const char* names[] = {"fault",     "read_ahead",       "to_device",        "to_host", "move_peer",
                                          "move_host_source", "move_host_target", "eviction", "free"};
  return names[static_cast<int>(t)];
}

bool two_devices(transition t) {
  return t == transition::move_peer || t == transition::move_host_source || t == transition::move_host_target;
}

/// One cell's world: a runtime over wrapped simulated devices, one buffer (two for
/// eviction), and what each word should hold.
struct world {
  transition t;
  std::vector<failing_driver*> dev;
  std::unique_ptr<runtime> rt;
  std::unique_ptr<buffer> a, b;
  std::uint32_t delta = 0;  ///< every word of `a` is index + delta

  explicit world(transition tr) : t(tr) {
    std::vector<std::unique_ptr<driver>> d;
    for (unsigned k = 0; k < (two_devices(t) ? 2u : 1u); ++k) {
      sim::sim_config sc;
      sc.memory_bytes = std::size_t{4} << 20;
      sc.chunk_bytes = kChunk;
      auto w = std::make_unique<failing_driver>(sim::make_driver(sc), /*forward_peer=*/t == transition::move_peer);
      dev.push_back(w.get());
      d.push_back(std::move(w));
    }
    // Eviction: room for `a` only, so `b`'s prefetch evicts it.
    config cfg = make_config(kBlock, tracking_mode::automatic, t == transition::eviction ? kBytes : 0);
    cfg.copy_timeout_ms = 2000;
    // Chunks are created by the transitions, so create_chunk's failures are injected there
    // (allocate's creation ahead and its failures: failure_safety_test).
    cfg.chunks_ahead = false;
    rt = std::make_unique<runtime>(cfg, std::move(d));
    a = std::make_unique<buffer>(rt->allocate(kBytes));
    auto* w = a->as<std::uint32_t>();
    for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);
    if (t == transition::eviction) {
      b = std::make_unique<buffer>(rt->allocate(kBytes));
      std::fill_n(b->as<std::uint32_t>(), kWords, 5u);
    }
    if (t != transition::to_device) add_on_device(0, 1);  // `a` device-authoritative
  }

  std::uint32_t* words() const { return a->as<std::uint32_t>(); }

  /// Makes `a` resident on device k and adds `d` to every word there, one chunk at a
  /// time: an injected out_of_memory from create_chunk lowers the device budget to
  /// the chunks it has (residency.cpp), and the runtime must keep working within it.
  void add_on_device(unsigned k, std::uint32_t d) {
    auto s = rt->create_stream(k);
    for (std::size_t off = 0; off < kBytes; off += kChunk) {
      rt->prefetch(a->as<char>() + off, kChunk, location::device, {}, k);
      // A plain loop on the simulated device's stream (no OpenMP team per cell).
      auto* dw = static_cast<std::uint32_t*>(rt->device_pointer(a->as<char>() + off, k));
      rt->device_driver(k).launch(s.handle(), [dw, d] {
        for (std::size_t i = 0; i < kChunk / 4; ++i) dw[i] += d;
      });
      s.synchronize();
    }
    delta += d;
  }

  /// The transition under test; a failure may throw (the caller catches it).
  /// Returns the faulting thread's SIGBUS pages for fault and read-ahead.
  std::vector<std::size_t> act() {
    std::vector<std::size_t> sigbus;
    switch (t) {
      case transition::fault: {
        const touch_result r = guarded_read(words() + 3 * kWordsPerPage + 1);
        if (r.signal != 0) sigbus.push_back(3);
        else EXPECT_EQ(r.value, 3 * kWordsPerPage + 1 + delta);
        break;
      }
      case transition::read_ahead:
        // A sequential scan: after the first faults, resolvers map blocks ahead.
        for (std::size_t p = 0; p < kBytes / kPage; ++p) {
          const touch_result r = guarded_read(words() + p * kWordsPerPage);
          if (r.signal != 0) sigbus.push_back(p);
          else EXPECT_EQ(r.value, p * kWordsPerPage + delta) << "page " << p;
        }
        break;
      case transition::to_device: rt->prefetch(words(), kBytes, location::device); break;
      case transition::to_host: rt->prefetch(words(), kBytes, location::host); break;
      case transition::move_peer:
      case transition::move_host_source:
      case transition::move_host_target: rt->prefetch(words(), kBytes, location::device, {}, 1); break;
      case transition::eviction: rt->prefetch(b->data(), kBytes, location::device); break;
      case transition::free_: a.reset(); break;
    }
    return sigbus;
  }

  failing_driver& injected() const {
    return *dev[t == transition::move_peer || t == transition::move_host_target ? 1 : 0];
  }

  void expect_no_leak(const char* when) const {
    for (unsigned k = 0; k < dev.size(); ++k) {
      EXPECT_EQ(rt->device_bytes_in_use(k), static_cast<std::size_t>(dev[k]->mapped_chunks()) * kChunk)
          << when << ": device " << k << " has chunks the residency does not count, or the reverse";
    }
  }

  /// Reads every word of `a` (bringing it home first when `home`); pages that SIGBUS count as wrong.
  std::size_t wrong_words(bool home) {
    if (home) rt->prefetch(words(), kBytes, location::host);
    std::size_t bad = 0;
    for (std::size_t p = 0; p < kBytes / kPage; ++p) {
      const touch_result r = guarded_read(words() + p * kWordsPerPage);
      if (r.signal != 0) {
        bad += kWordsPerPage;
        continue;
      }
      bad += index_mismatches(words() + p * kWordsPerPage, kWordsPerPage, static_cast<std::uint32_t>(p * kWordsPerPage + delta)) ;
    }
    return bad;
  }
};

struct cell_result {
  bool fired = false;
};

/// Runs one cell; gtest failures carry the cell's name through SCOPED_TRACE.
void run_cell(transition t, call c, unsigned step, thrown what) {
  world w(t);
  w.injected().arm(c, step, what);
  std::vector<std::size_t> sigbus;
  try {
    sigbus = w.act();
  } catch (const std::exception&) {
    // A failed prefetch is an allowed outcome; what it left behind is checked below.
  }
  // Read-ahead runs on resolvers after the scan returned: let queued work settle.
  if (t == transition::read_ahead) (void)w.rt->statistics();
  w.injected().disarm();
  const bool fired = w.injected().fired();
  for (std::size_t p : sigbus) {
    EXPECT_TRUE(fired) << "SIGBUS on page " << p << " though no driver call failed";
  }
  if (!fired) return;  // this step did not happen in this run (timing): nothing more to learn
  w.expect_no_leak("after the failure");
  if (t == transition::free_) {
    EXPECT_EQ(w.rt->device_bytes_in_use(0), 0u);
    return;
  }
  // Every word is right; the data may be anywhere, so bring it home (which must work now).
  EXPECT_EQ(w.wrong_words(/*home=*/true), 0u) << "words lost or wrong after the failure";
  // The runtime keeps working: a full cycle through the device.
  const unsigned k = two_devices(t) ? 1 : 0;
  w.add_on_device(k, 10);
  EXPECT_EQ(w.wrong_words(true), 0u) << "words wrong after the next cycle";
  w.expect_no_leak("after the next cycle");
  w.a.reset();
  w.b.reset();
  for (unsigned d = 0; d < w.dev.size(); ++d) {
    EXPECT_EQ(w.rt->device_bytes_in_use(d), 0u);
    EXPECT_EQ(w.dev[d]->mapped_chunks(), 0) << "device " << d << " still maps chunks after every free";
  }
}

/// The calls the transition makes and how often (a dry run with nothing failing).
std::array<unsigned, kCalls> dry_run(transition t) {
  world w(t);
  w.injected().reset_counts();
  (void)w.act();
  if (t == transition::read_ahead) (void)w.rt->statistics();
  std::array<unsigned, kCalls> n{};
  for (std::size_t c = 0; c < kCalls; ++c) n[c] = w.injected().calls(static_cast<call>(c));
  return n;
}

struct matrix_case {
  transition t;
  thrown what;
};

class failure_matrix : public ::testing::TestWithParam<matrix_case> {};

TEST_P(failure_matrix, every_step_of_every_call_fails_safely) {
  const auto [t, what] = GetParam();
#ifdef UMPAGER_MATRIX_SAMPLE
  if (what != thrown::driver_error && what != thrown::bad_alloc) GTEST_SKIP() << "sanitizer build: a sample of the matrix";
#endif
  const auto calls = dry_run(t);
  if (t == transition::free_) {
    for (std::size_t c = 0; c < kCalls; ++c) {
      EXPECT_EQ(calls[c], 0u) << "free makes a driver call that can throw: " << to_string(static_cast<call>(c));
    }
  }
  unsigned cells = 0;
  for (std::size_t c = 0; c < kCalls; ++c) {
    for (unsigned step : steps(calls[c])) {
      SCOPED_TRACE(std::string(to_string(t)) + " x " + to_string(static_cast<call>(c)) + " #" + std::to_string(step) +
                   " x " + to_string(what));
      run_cell(t, static_cast<call>(c), step, what);
      ++cells;
      if (HasFatalFailure()) return;
    }
  }
  RecordProperty("cells", static_cast<int>(cells));
  std::printf("%s x %s: %u cells\n", to_string(t), to_string(what), cells);
}

std::vector<matrix_case> all_cases() {
  std::vector<matrix_case> out;
  for (transition t : {transition::fault, transition::read_ahead, transition::to_device, transition::to_host,
                       transition::move_peer, transition::move_host_source, transition::move_host_target,
                       transition::eviction, transition::free_}) {
    for (std::size_t e = 0; e < kThrown; ++e) out.push_back({t, static_cast<thrown>(e)});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(cells, failure_matrix, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<matrix_case>& i) {
                           return std::string(to_string(i.param.t)) + "_" + to_string(i.param.what);
                         });

}  // namespace
}  // namespace umpager::testing
