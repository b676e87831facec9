#include "scan.hpp"

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "umpager/runtime.hpp"

namespace umpager::bench {
namespace {

constexpr std::size_t kChunk = std::size_t{2} << 20;
constexpr std::size_t kDeviceHeadroom = std::size_t{64} << 20;

tracking_mode to_mode(tracking t) {
  switch (t) {
    case tracking::wp_async: return tracking_mode::wp_async;
    case tracking::sync: return tracking_mode::sync;
    case tracking::off: return tracking_mode::off;
  }
  return tracking_mode::automatic;
}

stats minus(const stats& a, const stats& b) {
  stats d;
  d.read_faults = a.read_faults - b.read_faults;
  d.write_faults = a.write_faults - b.write_faults;
  d.wp_faults = a.wp_faults - b.wp_faults;
  d.written_pages_found = a.written_pages_found - b.written_pages_found;
  d.pages_continued = a.pages_continued - b.pages_continued;
  d.pages_poisoned = a.pages_poisoned - b.pages_poisoned;
  d.pages_read_ahead = a.pages_read_ahead - b.pages_read_ahead;
  d.bytes_read_ahead = a.bytes_read_ahead - b.bytes_read_ahead;
  d.bytes_to_device = a.bytes_to_device - b.bytes_to_device;
  d.bytes_to_host = a.bytes_to_host - b.bytes_to_host;
  d.chunks_evicted = a.chunks_evicted - b.chunks_evicted;
  d.resolver_busy_ns = a.resolver_busy_ns - b.resolver_busy_ns;
  d.bytes_from_storage = a.bytes_from_storage - b.bytes_from_storage;
  d.bytes_to_storage = a.bytes_to_storage - b.bytes_to_storage;
  d.device_bytes_in_use = a.device_bytes_in_use;  // a gauge: the value after the pass
  return d;
}

void check_sum(std::uint64_t got, std::uint64_t want, const char* when) {
  if (got != want) {
    throw data_error(std::string("umpager pass read wrong data ") + when + ": sum " + std::to_string(got) +
                     ", expected " + std::to_string(want));
  }
}

}  // namespace

umpager_result run_umpager_pass(const scan_options& o, const touch_plan& plan) {
  config cfg = config::from_env();
  cfg.tracking = to_mode(o.track);
  // The whole allocation must fit on the device, or eviction would be measured too.
  if (std::getenv("UMPAGER_DEVICE_MEMORY") == nullptr) {
    cfg.device_memory = (o.size + kDeviceHeadroom + kChunk - 1) / kChunk * kChunk;
  }
  // --residency storage: a host budget of an eighth of the data (UMPAGER_HOST_MEMORY
  // overrides it), so most of it is in the spill file when the pass starts.
  if (o.where == residency::storage && std::getenv("UMPAGER_HOST_MEMORY") == nullptr) {
    cfg.host_memory = std::max<std::size_t>(std::size_t{4} << 20, o.size / 8);
  }
  runtime rt(cfg);
  buffer buf = rt.allocate(o.size, o.block);
  auto* base = buf.as<std::byte>();

  // First touch writes the data the read pass must find; then it lives on the
  // device, and for --residency host comes back write-protected (shared).
  const std::uint64_t fill_salt = o.seed;
  const std::uint64_t write_salt = o.seed + 0x9e37;
  fill_pattern(base, plan.pages(), fill_salt);
  if (o.where == residency::storage) {
    // Spilled past the budget by the runtime's thread: wait until it is done.
    for (int i = 0; i < 3000 && rt.statistics().host_bytes_in_use > cfg.host_memory; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } else {
    rt.prefetch(base, o.size, location::device);
  }
  if (o.where == residency::host) rt.prefetch(base, o.size, location::host);

  umpager_result r;
  r.driver = rt.device_driver().info().name;
  r.tracking = to_string(rt.tracking());
  r.resolvers = rt.resolvers();
  r.readahead = cfg.readahead_bytes;
  r.granularity = o.block == 0 && cfg.block_size == 0 ? "adaptive" : "fixed";
  const stats before = rt.statistics();
  r.touch = touch_pass(base, plan, o.mode, write_salt);
  r.delta = minus(rt.statistics(), before);

  if (o.mode == access::read) {
    check_sum(r.touch.sum, touched_sum(plan, fill_salt), "in the timed pass");
  } else {
    // Writes must survive a round trip through the device: a write the tracking
    // missed would come back stale here.
    if (o.where != residency::storage) rt.prefetch(base, o.size, location::device);
    const touch_plan check(o.size, plan.block(), pattern::seq, plan.threads(), o.seed);
    const touch_result back = touch_pass(base, check, access::read);
    check_sum(back.sum, after_write_sum(plan, fill_salt, write_salt), "back from the device after the write pass");
  }
  return r;
}

}  // namespace umpager::bench
