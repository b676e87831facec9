// The runtime's residency calls: stream-ordered prefetch, launch declarations,
// attach, advice, queries and device-wide synchronization (docs/api.md "Ordering").
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <map>
#include <set>

#include "homecomings.hpp"
#include "runtime_impl.hpp"
#include "umpager/runtime.hpp"

namespace umpager {
namespace detail {
namespace {

/// Counts an operation on a region while it runs, so free refuses it meanwhile.
class user_guard {
 public:
  explicit user_guard(region& r) : r_(r) { r_.users.fetch_add(1, std::memory_order_acq_rel); }
  ~user_guard() { r_.users.fetch_sub(1, std::memory_order_acq_rel); }
  user_guard(const user_guard&) = delete;
  user_guard& operator=(const user_guard&) = delete;

 private:
  region& r_;
};

/// A move by access counts that must evict needs this many times migrate_after.
constexpr std::uint64_t kEvictingMoveFactor = 4;

/// How many device chunks [offset, offset + bytes) of an allocation spans.
std::size_t chunks_spanned(std::size_t offset, std::size_t bytes, std::size_t chunk) {
  return (offset + bytes - 1) / chunk - offset / chunk + 1;
}

}  // namespace

void pin_set::adopt(const std::shared_ptr<region>& r, move_op& op, const std::function<void()>& move) {
  auto take = [&] {
    for (const auto& [reg, c] : op.pinned) chunks.emplace_back(r, c);
    op.pinned.clear();
  };
  try {
    move();
  } catch (...) {
    take();
    throw;
  }
  take();
}

void pin_set::to_device(const std::shared_ptr<region>& r, std::size_t offset, std::size_t bytes, move_op& op) {
  adopt(r, op, [&] { r->to_device(offset, bytes, op); });
}

void pin_set::hold(const std::shared_ptr<region>& r, std::size_t offset, std::size_t bytes, unsigned dev,
                   std::size_t limit) {
  move_op op;
  op.device = dev;
  adopt(r, op, [&] { r->hold_resident(offset, bytes, op, limit); });
}

void pin_set::reserve(std::size_t n, const char* what) {
  rt->res_[device]->admit(n, what);
  reserved = n;
}

void pin_set::release() noexcept {
  if (rt != nullptr && rt->alive_->load(std::memory_order_acquire)) {
    for (const auto& [weak, c] : chunks) {
      if (auto r = weak.lock()) rt->res_[device]->unpin(*r, c);
    }
    rt->res_[device]->leave(reserved);
  }
  chunks.clear();
  reserved = 0;
}

declaration_state::~declaration_state() {
  if (!alive->load(std::memory_order_acquire)) return;
  for (const reach& k : reaching) {
    if (auto r = k.r.lock()) r->reached().abandon(k.chunk);
  }
  pins.release();
  for (const auto& weak : users) {
    if (auto r = weak.lock()) r->users.fetch_sub(1, std::memory_order_acq_rel);
  }
}

std::pair<std::shared_ptr<region>, std::size_t> runtime_impl::range(const void* ptr, std::size_t bytes,
                                                                    const char* what, bool aligned) const {
  UMPAGER_EXPECTS(bytes > 0, std::string(what) + ": size is zero");
  UMPAGER_EXPECTS(!aligned || reinterpret_cast<std::uintptr_t>(ptr) % kPageSize == 0,
                  std::string(what) + ": pointer is not aligned to 4096 bytes");
  auto r = find(reinterpret_cast<std::uintptr_t>(ptr));
  UMPAGER_EXPECTS(r != nullptr, std::string(what) + ": pointer is not inside a live allocation (null, foreign or freed)");
  const auto offset = static_cast<std::size_t>(static_cast<const std::byte*>(ptr) - r->user());
  UMPAGER_EXPECTS(bytes <= r->size() - offset, std::string(what) + ": range runs past the end of its allocation");
  return {std::move(r), offset};
}

std::optional<attach_state> runtime_impl::refusing_attachment(const region& r, stream_handle h) const noexcept {
  const attach_state st = r.attached.load(std::memory_order_acquire);
  if (st == attach_state::host) return st;
  if (st == attach_state::single && r.attached_stream.load(std::memory_order_acquire) != h.impl) return st;
  return std::nullopt;
}

void runtime_impl::check_attached(const region& r, stream_handle h, const char* what) const {
  const auto refused = refusing_attachment(r, h);
  if (!refused) return;
  if (*refused == attach_state::host) {
    throw invalid_argument(std::string(what) + ": allocation " + std::to_string(reinterpret_cast<std::uintptr_t>(r.user())) +
                           " is attached to the host (attach_to::host); attach it to global or to this stream first");
  }
  throw invalid_argument(std::string(what) + ": allocation is attached to another stream (attach_to::single)");
}

chunk_table& runtime_impl::reach_table(const std::shared_ptr<region>& r, unsigned k, const char* what) {
  driver& d = *drvs_[k];
  if (d.host_address_on_device(r->alias()) == nullptr) {
    throw unsupported(std::string(what) + ": device " + std::to_string(k) + " (" + d.info().name +
                      ") cannot reach host memory, so only resident ranges can be used there");
  }
  return reaches_.table(r, k, d, r->chunk_count());
}

void runtime_impl::check_stale(unsigned k) {
  std::vector<std::shared_ptr<region>> all;
  {
    std::shared_lock g(regions_mutex_);
    for (const auto& [base, r] : regions_) all.push_back(r);
  }
  for (const auto& r : all) {
    std::size_t first = 0;
    const std::size_t n = r->stale_pages(k, first);
    if (n == 0) continue;
    counters::add(count_.stale_launches, 1);
    char msg[320];
    std::snprintf(msg, sizeof msg,
                  "UMPAGER_CHECK_STALE: undeclared launch on device %u, but %zu page(s) of allocation %p were written "
                  "by the CPU after their upload (first at offset %zu): the kernel would read stale data; prefetch "
                  "the range or declare it (runtime::launch with an access set, runtime::declare)",
                  k, n, static_cast<void*>(r->user()), first);
    throw runtime_error(msg);
  }
}

}  // namespace detail

using detail::live;

completion runtime::prefetch(const void* ptr, std::size_t bytes, location where, stream_view s, unsigned device) {
  auto& impl = live(impl_);
  const detail::trace_recorder::sample_on_exit sampled(impl.trace_.get());  // UMPAGER_TRACE's device bytes
  impl.checked_device(device, "prefetch");
  auto [r, offset] = impl.range(ptr, bytes, "prefetch", true);
  const detail::user_guard busy(*r);
  driver& sd = impl.stream_driver(s, device);
  if (s.is_default()) {
    // Legacy default stream: synchronous, after the work it orders with.
    if (where == location::device) {
      sd.synchronize(impl.stream_of(s, device));
      detail::move_op op;
      op.device = device;
      op.prefetch = true;
      detail::pin_set pins{&impl, device, {}};
      pins.reserve(detail::chunks_spanned(offset, bytes, sd.info().chunk_bytes), "prefetch: the range");
      impl.res_[device]->begin_operation();
      pins.to_device(r, offset, bytes, op);
    } else {
      // Every stream of every device first, as CUDA's legacy default stream does:
      // no kernel may still be writing what comes home.
      // Not while a copy given up on is pending: its stream may never finish, and
      // waiting for it would hang; writers the runtime knows of are still waited
      // for per chunk by to_host (docs/architecture.md "Failure safety").
      if (!impl.graveyard_.pending()) {
        for (const auto& d : impl.drvs_) d->synchronize_device();
      }
      r->to_host(offset, bytes);
    }
    return completion{};
  }
  const stream_handle h = impl.stream_of(s, device);
  if (where == location::host) {
    impl.prefetched_->forget(h, r.get(), offset, bytes);  // a later launch does not need it back
    // Ordered on the stream, without waiting for it (docs/api.md "Prefetch to the host
    // on a stream"): its work ahead may wait for this thread.
    auto parts = r->to_host_ordered(offset, bytes, sd, impl.device_of(sd), h, impl.alive_);
    if (parts.empty()) return completion{};
    auto home = std::make_shared<detail::homecoming>(r, std::move(parts));
    impl.homes_->add(h, home);
    return completion(std::move(home));
  }
  if (&sd != impl.drvs_[device].get()) {
    // A stream of another device cannot carry this device's copies: after its work, synchronously.
    sd.synchronize(h);
    return prefetch(ptr, bytes, where, stream_view{}, device);
  }
  detail::check_upload_stream(sd, impl.upload_[device]->get(), false, "prefetch");
  detail::move_op op;
  op.device = device;
  op.stream = h;
  op.point = std::make_shared<detail::fence>(sd, impl.alive_);
  op.point->follows_uploads(impl.upload_[device]->get());
  op.uploads_aside = true;
  op.prefetch = true;
  const std::size_t chunk = sd.info().chunk_bytes;
  detail::pin_set pins{&impl, device, {}};
  pins.reserve(detail::chunks_spanned(offset, bytes, chunk), "prefetch: the range");
  impl.res_[device]->begin_operation();
  pins.to_device(r, offset, bytes, op);  // pinned from here on by the records, until the stream passes them
  impl.prefetched_->remember(h, device, r, offset, bytes, chunk, impl.res_[device]->budget_bytes() / chunk);
  return completion(op.point);
}

void runtime::launch(std::function<void()> fn, stream_view s) {
  auto& impl = live(impl_);
  UMPAGER_EXPECTS(static_cast<bool>(fn), "launch: function is empty");
  // What this stream prefetched since its last launch is declared for the kernel: other
  // threads' work may have evicted some of it since (docs/api.md "Prefetch, then launch").
  driver& sd = impl.stream_driver(s, 0);
  const unsigned device = impl.device_of(sd);
  std::vector<access> set;
  unsigned remembered_on = device;
  // The default stream remembers nothing (its prefetches are done on return).
  for (const auto& p : impl.prefetched_->take(s.handle(), remembered_on)) {
    auto r = p.r.lock();
    // Attached to the host or to another stream since: not this kernel's to reach.
    if (r == nullptr || remembered_on != device || impl.refusing_attachment(*r, s.handle())) continue;
    set.push_back({r->user() + p.offset, p.bytes, access_mode::read_write});
  }
  // Kernels using accessors may reach any allocation one was made for: all of them.
  for (const auto& r : impl.reaches_.on_device(device)) {
    if (impl.refusing_attachment(*r, impl.stream_of(s, device))) continue;
    set.push_back({r->user(), r->size(), access_mode::read_write, access_kind::reachable});
  }
  declaration d;
  if (!set.empty()) d = declare(set, s, device);
  if (impl.cfg_.check_stale) impl.check_stale(device);
  if (impl.trace_) fn = impl.trace_->traced_launch(std::move(fn), impl.stream_of(s, device).impl);
  sd.launch(impl.stream_of(s, device), std::move(fn));
  d.close();  // nothing to close without a set
}

declaration runtime::declare(span<const access> set, stream_view s, unsigned device) {
  auto& impl = live(impl_);
  const detail::trace_recorder::sample_on_exit sampled(impl.trace_.get());  // UMPAGER_TRACE's device bytes
  impl.checked_device(device, "declare");
  UMPAGER_EXPECTS(!set.empty(), "declare: the access set is empty");
  driver& sd = impl.stream_driver(s, device);
  UMPAGER_EXPECTS(&sd == impl.drvs_[device].get(),
                  "declare: the stream belongs to another device than device " + std::to_string(device));
  const stream_handle h = impl.stream_of(s, device);
  if (!s.is_default()) detail::check_upload_stream(sd, impl.upload_[device]->get(), false, "declare");
  impl.prefetched_->forget(h);  // the set names what the kernel needs
  auto st = std::make_unique<detail::declaration_state>();
  st->rt = &impl;
  st->alive = impl.alive_;
  st->device = device;
  st->stream = h;
  st->stream_driver = &sd;
  st->pins.rt = &impl;
  st->pins.device = device;
  // Validate everything and size the set before moving anything.
  std::vector<std::pair<std::shared_ptr<detail::region>, std::size_t>> regions;
  std::set<std::pair<const detail::region*, std::size_t>> chunks;  // resident ranges'
  std::vector<detail::chunk_table*> tables(set.size(), nullptr);
  const std::size_t chunk = sd.info().chunk_bytes;
  std::size_t reach_resident = 0;  // chunks of reachable ranges resident here now
  for (std::size_t i = 0; i < set.size(); ++i) {
    const access& a = set[i];
    UMPAGER_EXPECTS(a.mode == access_mode::read || a.mode == access_mode::write || a.mode == access_mode::read_write,
                    "declare: bad access_mode");
    UMPAGER_EXPECTS(a.kind == access_kind::resident || a.kind == access_kind::reachable, "declare: bad access_kind");
    auto [r, offset] = impl.range(a.ptr, a.bytes, "declare", false);
    impl.check_attached(*r, h, "declare");
    if (a.kind == access_kind::reachable) {
      tables[i] = &impl.reach_table(r, device, "declare");
      reach_resident += r->resident_chunks(offset, a.bytes, device);
    } else {
      for (std::size_t c = offset / chunk; c <= (offset + a.bytes - 1) / chunk; ++c) chunks.emplace(r.get(), c);
    }
    regions.emplace_back(std::move(r), offset);
  }
  // The whole set or nothing: declarations that do not fit together wait here, in
  // order, holding no pin, until the work ahead of them passes; resident ranges larger
  // than the budget are out_of_memory here, before anything moved. Reachable ranges
  // hold what is resident of them, as far as the budget goes; the rest is reached in
  // host memory.
  const std::size_t budget = impl.res_[device]->budget_bytes() / chunk;
  // Chunks their accessors reached often enough in host memory move onto the device,
  // the most reached first, in what the budget leaves after the resident ranges; the
  // reachable chunks resident already are held in what is left after that, and the
  // others may be evicted (by the policy) for the moves.
  const std::uint64_t after = impl.cfg_.migrate_after == config::kMigrateAuto ? chunk / 64 : impl.cfg_.migrate_after;
  std::map<std::pair<const detail::region*, std::size_t>, unsigned> movers;  // chunk -> its count
  if (after != config::kMigrateNever && chunks.size() < budget) {
    std::vector<std::pair<unsigned, std::pair<const detail::region*, std::size_t>>> hot;
    for (std::size_t i = 0; i < set.size(); ++i) {
      if (set[i].kind != access_kind::reachable) continue;
      const auto& [r, offset] = regions[i];
      const std::size_t c0 = offset / chunk, n = (offset + set[i].bytes - 1) / chunk - c0 + 1;
      const std::vector<unsigned> seen = tables[i]->counts(c0, n);
      for (std::size_t j = 0; j < n; ++j) {
        if (seen[j] >= after && !r->accessed_by(c0 + j, device)) hot.push_back({seen[j], {r.get(), c0 + j}});
      }
    }
    std::sort(hot.begin(), hot.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    // Into free device memory a move costs its copy; past it, also the victim's (written
    // back) and the victim's accesses from then on in host memory: four times the bar.
    const std::size_t in_use = impl.res_[device]->bytes_in_use() / chunk;
    const std::size_t free = in_use >= budget ? 0 : budget - in_use;
    for (const auto& [count, at] : hot) {
      if (movers.size() == budget - chunks.size()) break;
      if (movers.size() >= free && after > 1 && count / detail::kEvictingMoveFactor < after) break;
      movers.emplace(at, count);
    }
  }
  const std::size_t left = chunks.size() + movers.size() >= budget ? 0 : budget - chunks.size() - movers.size();
  const std::size_t reach_hold = std::min(reach_resident, left);
  st->pins.reserve(chunks.size() + reach_hold + movers.size(), "declare: the access set");
  impl.res_[device]->begin_operation();  // one operation: its ranges never evict each other
  // What the set already has on the device is held first, so that no miss of an
  // earlier range evicts a chunk a later range is about to hit.
  std::size_t may_hold = reach_hold;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (set[i].kind == access_kind::resident) {
      st->pins.hold(regions[i].first, regions[i].second, set[i].bytes, device);
    } else if (may_hold > 0) {
      const std::size_t before = st->pins.chunks.size();
      st->pins.hold(regions[i].first, regions[i].second, set[i].bytes, device, may_hold);
      may_hold -= std::min(may_hold, st->pins.chunks.size() - before);
    }
  }
  auto stream_op = [&](bool read_only) {
    detail::move_op op;
    op.device = device;
    op.read_only = read_only;
    if (!s.is_default()) {  // the default stream moves synchronously (errors surface here)
      op.stream = h;
      op.point = std::make_shared<detail::fence>(sd, impl.alive_);
      op.uploads_aside = true;
    }
    return op;
  };
  // A chunk's table entry while it is reached on this device.
  auto device_entry = [device, chunk](const detail::region& r, std::size_t c) -> std::uint64_t {
    return reinterpret_cast<std::uintptr_t>(r.device(device) + c * chunk);
  };
  for (std::size_t i = 0; i < set.size(); ++i) {
    auto& [r, offset] = regions[i];
    r->users.fetch_add(1, std::memory_order_acq_rel);
    st->users.push_back(r);
    if (set[i].kind != access_kind::resident) continue;
    // Page-aligned outwards: a kernel touches whole pages of what it names.
    const std::size_t first = offset / detail::kPageSize * detail::kPageSize;
    const std::size_t bytes = offset + set[i].bytes - first;
    detail::move_op op = stream_op(set[i].mode == access_mode::read);
    st->pins.to_device(r, first, bytes, op);  // on failure st's destructor unpins what was pinned
    st->ranges.push_back({r, first, bytes, set[i].mode != access_mode::read});
    // An accessor made for the allocation reaches a resident range on the device.
    if (detail::chunk_table* t = impl.reaches_.find(*r, device)) {
      const std::size_t c0 = first / chunk, c1 = (first + bytes - 1) / chunk;
      std::vector<std::uint64_t> entries;
      for (std::size_t c = c0; c <= c1; ++c) entries.push_back(device_entry(*r, c));
      t->publish(c0, entries, h);
    }
  }
  // Reachable ranges, chunk by chunk: a chunk this declaration holds on the device is
  // reached there (made current as a resident range is), any other in host memory.
  std::set<std::pair<const detail::region*, std::size_t>> held;
  for (const auto& [weak, c] : st->pins.chunks) {
    if (auto r = weak.lock()) held.emplace(r.get(), c);
  }
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (set[i].kind != access_kind::reachable) continue;
    auto& [r, offset] = regions[i];
    const bool writes = set[i].mode != access_mode::read;
    const std::size_t c0 = offset / chunk, c1 = (offset + set[i].bytes - 1) / chunk;
    std::vector<std::uint64_t> entries;
    for (std::size_t c = c0; c <= c1; ++c) {
      // The chunk's pages the range covers, page-aligned outwards.
      const std::size_t lo = std::max(offset, c * chunk) / detail::kPageSize * detail::kPageSize;
      const std::size_t hi = std::min(offset + set[i].bytes, std::min((c + 1) * chunk, r->size()));
      const auto mover = movers.find({r.get(), c});
      // A chunk still reached by another stream's kernel, or by an open declaration,
      // stays where it is this time.
      const bool moves = mover != movers.end() && r->reached().movable(c, sd, h);
      if (held.count({r.get(), c}) != 0 || moves) {
        detail::move_op op = stream_op(!writes);
        st->pins.to_device(r, lo, hi - lo, op);
        st->ranges.push_back({r, lo, hi - lo, writes});
        entries.push_back(device_entry(*r, c));
        if (moves) {
          detail::counters::add(impl.count_.chunks_migrated, 1);
          detail::counters::add(impl.count_.bytes_migrated, op.uploaded);
          tables[i]->restart_count(c, mover->second, h);
          movers.erase(mover);  // once, if two ranges of the set share the chunk
        }
      } else {
        detail::counters::add(impl.count_.remote_chunk_reaches, 1);
        st->reaching.push_back({r, c, writes});  // abandoned by st's destructor if what follows throws
        r->reach_host(c, lo / detail::kPageSize, (hi + detail::kPageSize - 1) / detail::kPageSize, writes);
        void* at = sd.host_address_on_device(r->alias() + c * chunk);
        if (at == nullptr) throw driver_error("declare: the device lost its mapping of the host memory");
        entries.push_back(reinterpret_cast<std::uintptr_t>(at) | kRemoteEntry);
      }
    }
    tables[i]->publish(c0, entries, h);  // in stream order, before the kernel
  }
  return declaration(std::move(st));
}

runtime::reach_view runtime::reach_bytes(const void* ptr, std::size_t count, std::size_t element, unsigned device) {
  auto& impl = live(impl_);
  impl.checked_device(device, "reach");
  UMPAGER_EXPECTS(count > 0 && element > 0, "reach: no elements");
  UMPAGER_EXPECTS(count <= SIZE_MAX / element, "reach: the element count overflows");
  auto [r, offset] = impl.range(ptr, count * element, "reach", false);
  const std::size_t chunk = r->chunk_bytes();
  UMPAGER_EXPECTS(chunk % element == 0 && offset % element == 0,
                  "reach: an element would straddle two chunks (the element size must divide the chunk size, and "
                  "the pointer be a multiple of it from the allocation's start)");
  detail::chunk_table& t = impl.reach_table(r, device, "reach");
  unsigned shift = 0;
  while ((std::size_t{1} << shift) < chunk) ++shift;
  return reach_view{t.entries(), t.device_counts(), offset, shift};
}

void runtime::launch(std::function<void()> kernel, stream_view s, span<const access> set, unsigned device) {
  auto& impl = live(impl_);
  UMPAGER_EXPECTS(static_cast<bool>(kernel), "launch: function is empty");
  declaration d = declare(set, s, device);
  if (impl.trace_) kernel = impl.trace_->traced_launch(std::move(kernel), impl.stream_of(s, device).impl);
  impl.stream_driver(s, device).launch(impl.stream_of(s, device), std::move(kernel));
  d.close();
}

void runtime::attach(const void* ptr, attach_to where, stream_view s) {
  auto& impl = live(impl_);
  auto r = impl.find(reinterpret_cast<std::uintptr_t>(ptr));
  UMPAGER_EXPECTS(r != nullptr, "attach: pointer is not inside a live allocation (null, foreign or freed)");
  switch (where) {
    case attach_to::global: r->attached.store(detail::attach_state::global); break;
    case attach_to::host: r->attached.store(detail::attach_state::host); break;
    case attach_to::single:
      r->attached_stream.store(impl.stream_of(s, 0).impl);
      r->attached.store(detail::attach_state::single);
      break;
    default: throw invalid_argument("attach: bad attach_to value");
  }
}

void runtime::advise(const void* ptr, std::size_t bytes, advice a, location where, unsigned device) {
  auto& impl = live(impl_);
  auto [r, offset] = impl.range(ptr, bytes, "advise", true);
  switch (a) {
    case advice::set_read_mostly: r->set_read_mostly(offset, bytes, true); return;
    case advice::unset_read_mostly: r->set_read_mostly(offset, bytes, false); return;
    case advice::set_preferred_location:
      UMPAGER_EXPECTS(where == location::host || where == location::device, "advise: bad location");
      if (where == location::device) impl.checked_device(device, "advise");
      r->set_preferred(offset, bytes, where == location::host ? detail::kPreferHost : static_cast<int>(device));
      for (const auto& res : impl.res_) res->note_preferences();
      return;
    case advice::unset_preferred_location: r->set_preferred(offset, bytes, detail::kNowhere); return;
    case advice::set_accessed_by:
    case advice::unset_accessed_by:
      impl.checked_device(device, "advise");
      r->set_accessed_by(offset, bytes, device, a == advice::set_accessed_by);
      return;
  }
  throw invalid_argument("advise: bad advice value");
}

range_info runtime::query(const void* ptr, std::size_t bytes) const {
  auto& impl = live(impl_);
  auto [r, offset] = impl.range(ptr, bytes, "query", true);
  return r->query(offset, bytes);
}

void runtime::device_synchronize() {
  auto& impl = live(impl_);
  std::string first;
  for (const auto& d : impl.drvs_) {
    try {
      d->synchronize_device();
    } catch (const std::exception& e) {
      if (first.empty()) first = e.what();  // every device is still waited for
    }
  }
  if (!first.empty()) throw driver_error("device_synchronize: " + first);
  impl.homes_->land_all();  // every stream passed: map what prefetches brought home
}

void runtime::set_policy(policy_kind kind, unsigned device) {
  auto& impl = live(impl_);
  impl.checked_device(device, "set_policy");
  config c;
  c.policy = kind;
  c.validate();
  impl.res_[device]->set_policy(make_policy(kind, impl.res_[device]->budget_bytes() / impl.drvs_[device]->info().chunk_bytes));
}

void runtime::set_policy(std::unique_ptr<eviction_policy> policy, unsigned device) {
  auto& impl = live(impl_);
  impl.checked_device(device, "set_policy");
  impl.res_[device]->set_policy(std::move(policy));
}

completion::completion(std::shared_ptr<detail::homecoming> h) noexcept : fence_(h->last()), home_(std::move(h)) {}

void completion::synchronize() const {
  if (!fence_) return;
  if (!fence_->alive()) throw closed_error("completion: the runtime was shut down");
  if (home_) {
    (void)home_->land(true);
    return;
  }
  while (!fence_->wait_for(std::chrono::milliseconds(1000))) {
  }
  fence_->check_uploads(true, "completion::synchronize");
}

bool completion::query() const {
  if (!fence_ || !fence_->done()) return !fence_;
  if (home_) return home_->land(false);
  fence_->check_uploads(false, "completion::query");
  return true;
}

declaration::declaration() noexcept = default;
declaration::declaration(std::unique_ptr<detail::declaration_state> s) noexcept : state_(std::move(s)) {}
declaration::declaration(declaration&&) noexcept = default;
declaration& declaration::operator=(declaration&& o) noexcept {
  if (this != &o) {
    try {
      close();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "umpager: closing a declaration failed: %s\n", e.what());
    }
    state_ = std::move(o.state_);
  }
  return *this;
}

declaration::~declaration() {
  try {
    close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "umpager: closing a declaration failed: %s\n", e.what());
  }
}

void declaration::close() {
  if (!state_) return;
  auto st = std::move(state_);  // closed once, whatever happens below
  if (!st->alive->load(std::memory_order_acquire)) throw closed_error("declaration: the runtime was shut down");
  auto point = std::make_shared<detail::fence>(*st->stream_driver, st->alive);
  point->record(st->stream);  // after the user's kernels
  for (const auto& rg : st->ranges) {
    if (auto r = rg.r.lock()) r->declared_done(rg.offset, rg.bytes, rg.writes, st->stream, point);
  }
  for (const auto& k : st->reaching) {
    if (auto r = k.r.lock()) r->reached().close(k.chunk, st->stream, point, k.writes);
  }
  st->reaching.clear();  // closed: nothing left to abandon
}

}  // namespace umpager
