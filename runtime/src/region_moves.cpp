// Moving a resident chunk between devices: a peer copy where the destination's driver
// can read the source device (enable_peer said so), else through the host. Any failure
// at any step (not only driver_error) leaves the data and the chunks where they were.
#include <cstdio>
#include <vector>

#include "page_runs.hpp"
#include "region.hpp"
#include "residency.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

void region::move_chunk(std::size_t c, unsigned k) {
  region_chunk& rc = chunks_[c];
  const unsigned j = rc.on;
  const chunk_handle old = rc.device;
  device_slot& from = ctx_.devices[j];
  device_slot& to = ctx_.devices[k];
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc, end = std::min(first + ppc, pages_.size());
  std::byte* const old_va = device_[j] + c * chunk_bytes_;
  auto on_device = [&](std::size_t p) { return pages_.state(p) != page_state::host; };
  // A copy given up on may still write j's chunk: it must not go back to the pool.
  if (!ctx_.graveyard->settle(old_va, chunk_bytes_)) throw driver_error("move: a timed-out copy may still write this chunk");

  if (to.reads_from[j]) {
    // Peer copy of every page with a valid copy on j (`device` and `shared`).
    from.res->detach(*this, c);
    try {
      to.res->make_resident(*this, c);  // sets rc.device and rc.on = k
    } catch (...) {
      rc.device = old;
      rc.on = j;
      from.res->attach(*this, c);
      throw;  // nothing moved: the chunk is still on j
    }
    try {
      std::vector<copy_op> ops;
      const std::size_t bytes = for_each_run(first, end, on_device, [&](std::size_t off, std::size_t len) {
        ops.push_back({device_[k] + off, device_[j] + off, len});
      });
      to.transfer->copy(ops, copy_direction::device_to_device);
      counters::add(ctx_.count.bytes_device_to_device, bytes);
      from.res->recycle(old, old_va);
      return;
    } catch (...) {
      // Any failure: give k's chunk back and try the host; j still holds the data. A
      // peer copy given up on may still write k's chunk: wait for it (up to the
      // timeout) before the chunk goes back to k's pool.
      if (!ctx_.graveyard->settle(device_[k] + c * chunk_bytes_, chunk_bytes_)) {
        std::fprintf(stderr, "umpager: a timed-out peer copy may still write a chunk returned to device %u's pool\n", k);
      }
      to.res->detach(*this, c);
      to.res->recycle(rc.device, device_[k] + c * chunk_bytes_);
      to.res->unpin(*this, c);  // make_resident's pin: the host path below takes its own
      rc.device = old;
      rc.on = j;
      from.res->attach(*this, c);
    }
  }
  // Through the host: j's device pages come home first (a failure leaves everything
  // on j), then every page counts as written and the caller uploads it to k.
  counters::add(ctx_.count.bytes_to_host,
                copy_runs(first, end, page_state::device, copy_direction::device_to_host, *from.transfer, j));
  for (std::size_t p = first; p < end; ++p) {
    if (on_device(p)) pages_.set_state(p, page_state::host);
  }
  from.res->detach(*this, c);
  from.res->recycle(old, old_va);
  rc.device = {};
  to.res->make_resident(*this, c);  // a failure leaves the chunk on no device, its data at home
}

}  // namespace umpager::detail
