// Moving a resident chunk between devices: a peer copy where the drivers can,
// else through the host; a failed move is undone so nothing is lost.
#include <vector>

#include "page_runs.hpp"
#include "region.hpp"
#include "residency.hpp"

namespace umpager::detail {

void region::move_chunk(std::size_t c, unsigned k) {
  region_chunk& rc = chunks_[c];
  const unsigned j = rc.on;
  const chunk_handle old = rc.device;
  device_slot& from = ctx_.devices[j];
  device_slot& to = ctx_.devices[k];
  auto back_to_j = [&] {
    rc.device = old;
    rc.on = j;
    from.res->attach(*this, c);
  };
  from.res->detach(*this, c);
  try {
    to.res->make_resident(*this, c);  // sets rc.device and rc.on = k
  } catch (...) {
    back_to_j();
    throw;
  }
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc, end = std::min(first + ppc, pages_.size());
  // Peer copy of every page with a valid copy on j (`device` and `shared`); where the
  // driver cannot (no peer access), through the host: they come home and are then
  // uploaded like written pages.
  std::vector<copy_op> ops;
  auto on_device = [&](std::size_t p) { return pages_.state(p) != page_state::host; };
  const std::size_t bytes = for_each_run(first, end, on_device, [&](std::size_t off, std::size_t len) {
    ops.push_back({device_[k] + off, device_[j] + off, len});
  });
  bool peer = true;
  try {
    to.transfer->copy(ops, copy_direction::device_to_device);
    counters::add(ctx_.count.bytes_device_to_device, bytes);
  } catch (const driver_error&) {
    peer = false;
  }
  if (!peer) {
    try {
      counters::add(ctx_.count.bytes_to_host,
                    copy_runs(first, end, page_state::device, copy_direction::device_to_host, *from.transfer, j));
    } catch (...) {
      // The data is still only on j: undo the move, so nothing is lost.
      to.res->detach(*this, c);
      to.res->recycle(rc.device, device_[k] + c * chunk_bytes_);
      back_to_j();
      throw;
    }
    for (std::size_t p = first; p < end; ++p) {
      if (on_device(p)) pages_.set_state(p, page_state::host);
    }
  }
  from.res->recycle(old, device_[j] + c * chunk_bytes_);
}

}  // namespace umpager::detail
