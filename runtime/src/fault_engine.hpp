// Resolver threads: each sleeps on its own resolver_wait (an io_uring polling the
// userfaultfd, the read-ahead queue and a stop eventfd), reads fault messages in
// batches, groups them by block and hands each block to its region; after serving
// it busy-polls the userfaultfd for a while that adapts to the gaps between faults
// (spin_budget). Nothing thrown ever leaves a resolver.
#pragma once

#include <linux/userfaultfd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "copy_lane.hpp"
#include "counters.hpp"
#include "os/eventfd.hpp"
#include "os/fd.hpp"
#include "os/userfaultfd.hpp"
#include "readahead.hpp"
#include "resolver_wait.hpp"
#include "topology.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

class region;
class spin_budget;
class trace_recorder;

/// How resolvers wait (UMPAGER_RESOLVER_WAIT, UMPAGER_RESOLVER_SPIN_US).
struct resolver_wait_options {
  resolver_wait_kind kind = resolver_wait_kind::automatic;
  std::uint64_t spin_max_ns = 50'000;
};

class fault_engine {
 public:
  /// Finds the region holding an address (null if none); called concurrently.
  using lookup_fn = std::function<std::shared_ptr<region>(std::uintptr_t)>;

  /// `drivers`: one per device; each resolver gets a copy lane on each. `trace`:
  /// UMPAGER_TRACE's recorder, or null.
  fault_engine(const os::userfaultfd& uffd, lookup_fn lookup, std::vector<driver*> drivers, counters& count,
               const std::atomic<std::uint64_t>& zap_clock, readahead_queue& ahead,
               const topology& topo, std::string cpus, unsigned resolvers, copy_graveyard& graveyard,
               trace_recorder* trace = nullptr, resolver_wait_options wait = {});
  ~fault_engine();
  fault_engine(const fault_engine&) = delete;
  fault_engine& operator=(const fault_engine&) = delete;

 private:
  using lanes = std::vector<copy_lane*>;  ///< one resolver's, by device
  /// Resolver number `index` (its counters: fault_wait, per_resolver) serving with `lane`.
  void run(unsigned index, const lanes& lane) noexcept;
  /// One non-blocking read of the userfaultfd and the service of what it got;
  /// false when there was nothing (another resolver may have taken it).
  bool serve_faults(std::span<uffd_msg> buf, const lanes& lane, unsigned index, spin_budget& spin) noexcept;
  /// `read_ns`: when the messages were read, the start of each fault's wait.
  void serve_batch(const void* msgs, int n, const lanes& lane, std::uint64_t read_at, std::uint64_t read_ns,
                   unsigned index) noexcept;
  /// Serves one queued read-ahead item; false when the queue was empty.
  bool serve_readahead(const lanes& lane, resolver_wait& wait) noexcept;

  const os::userfaultfd& uffd_;
  lookup_fn lookup_;
  counters& count_;
  const std::atomic<std::uint64_t>& zap_clock_;
  readahead_queue& ahead_;
  const topology& topo_;
  std::string cpus_;
  trace_recorder* trace_;
  std::uint64_t spin_max_ns_;
  os::event_fd stop_;
  std::vector<std::unique_ptr<resolver_wait>> waits_;  ///< by resolver
  std::vector<std::unique_ptr<copy_lane>> owned_lanes_;
  std::vector<lanes> lanes_;  ///< by resolver
  std::vector<std::thread> threads_;
};

}  // namespace umpager::detail
