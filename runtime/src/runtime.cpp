#include "umpager/runtime.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "factory.hpp"
#include "os/cpu_pressure.hpp"
#include "os/linux_uapi.hpp"
#include "os/pagemap.hpp"
#include "runtime_impl.hpp"
#include "stats_summary.hpp"
#include "storage/storage_file.hpp"

namespace umpager {
namespace detail {
namespace {

constexpr std::uint64_t kWpShmem = UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
constexpr std::uint64_t kWpAsync = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;

tracking_mode resolve_tracking(tracking_mode want, const os::uffd_features& have) {
  const bool async_ok = have.has(kWpShmem | kWpAsync) && os::pagemap::supported();
  switch (want) {
    case tracking_mode::wp_async:
      if (!async_ok) {
        throw unsupported("UMPAGER_TRACKING=wp_async needs Linux 6.7 (userfaultfd WP_ASYNC + PAGEMAP_SCAN); missing: " +
                          (have.missing(kWpShmem | kWpAsync).empty() ? std::string("PAGEMAP_SCAN")
                                                                     : have.missing(kWpShmem | kWpAsync)) +
                          "; use UMPAGER_TRACKING=sync");
      }
      return want;
    case tracking_mode::sync:
      if (!have.has(kWpShmem)) {
        throw unsupported("UMPAGER_TRACKING=sync needs write-protect on shmem (Linux 6.1); use UMPAGER_TRACKING=off");
      }
      return want;
    case tracking_mode::off:
      return want;
    default:
      return async_ok ? tracking_mode::wp_async : have.has(kWpShmem) ? tracking_mode::sync : tracking_mode::off;
  }
}

os::userfaultfd open_uffd(const config& cfg, tracking_mode& tracking) {
  const bool user_only = !cfg.kernel_faults;
  const os::uffd_features have = os::userfaultfd::probe(user_only);
  if (!have.has(UFFD_FEATURE_MINOR_SHMEM)) {
    throw unsupported("this kernel's userfaultfd lacks MINOR_SHMEM; umpager needs Linux 5.14 or newer (6.7 for "
                      "every feature)");
  }
  tracking = resolve_tracking(cfg.tracking, have);
  // MISSING_SHMEM: a mapped file's holes fault (region_storage.cpp).
  std::uint64_t want = UFFD_FEATURE_MINOR_SHMEM |
                       (have.bits & (UFFD_FEATURE_POISON | UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM));
  if (tracking != tracking_mode::off) want |= kWpShmem;
  if (tracking == tracking_mode::wp_async) want |= kWpAsync;
  return os::userfaultfd::open(want, user_only);
}

std::size_t budget(const config& cfg, const driver& d) {
  const std::size_t have = d.info().memory_bytes;
  return cfg.device_memory != 0 && cfg.device_memory < have ? cfg.device_memory : have;
}

unsigned wait_ms(const config& cfg) { return std::max(10000u, cfg.copy_timeout_ms); }

/// UMPAGER_RESOLVER_SPIN_US; auto: spin where resolvers may have a CPU to spare. Where
/// the kernel reports CPU pressure the resolvers stop spinning while tasks wait for a
/// CPU (spin_budget::pressure), so 2 CPUs suffice: one for the faulting thread, one for
/// the spin (docs/bench.md "Session 6: spin on 2 CPUs"). Without it, only 4 or more: on
/// 2 a spin competes with the faulting threads (docs/bench.md "Resolver loop").
unsigned spin_us(const config& cfg, unsigned resolver_cpus) {
  if (cfg.resolver_spin_us != config::kSpinAuto) return cfg.resolver_spin_us;
  return resolver_cpus >= (os::cpu_pressure().available() ? 2u : 4u) ? 50u : 0u;
}

std::size_t host_memory_bytes() {
  return static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::vector<std::unique_ptr<driver>> checked(std::vector<std::unique_ptr<driver>> drivers) {
  UMPAGER_EXPECTS(!drivers.empty(), "runtime: no driver");
  for (const auto& d : drivers) UMPAGER_EXPECTS(d != nullptr, "runtime: driver is null");
  const std::size_t chunk = drivers.front()->info().chunk_bytes;
  for (const auto& d : drivers) {
    UMPAGER_EXPECTS(d->info().chunk_bytes == chunk, "runtime: devices with different chunk sizes (" +
                                                        std::to_string(chunk) + " and " +
                                                        std::to_string(d->info().chunk_bytes) + " bytes)");
  }
  return drivers;
}

template <class T, class Make>
std::vector<std::unique_ptr<T>> per_device(const std::vector<std::unique_ptr<driver>>& drivers, Make make) {
  std::vector<std::unique_ptr<T>> out;
  for (unsigned k = 0; k < drivers.size(); ++k) out.push_back(make(*drivers[k], k));
  return out;
}

std::vector<driver*> drivers_of(const std::vector<std::unique_ptr<driver>>& drivers) {
  std::vector<driver*> out;
  for (const auto& d : drivers) out.push_back(d.get());
  return out;
}

}  // namespace

runtime_impl::runtime_impl(const config& cfg, std::vector<std::unique_ptr<driver>> drivers, io_engine_factory io)
    : cfg_(cfg),
      trace_(cfg.trace_file.empty() ? nullptr : std::make_unique<trace_recorder>(cfg.trace_file)),
      drvs_(checked(std::move(drivers))),
      tracking_(tracking_mode::off),
      graveyard_(cfg.copy_timeout_ms),
      uffd_(open_uffd(cfg, tracking_)),
      res_(per_device<residency>(drvs_, [&](driver& d, unsigned k) {
        return std::make_unique<residency>(d, k, budget(cfg, d), count_, cfg.policy, wait_ms(cfg));
      })),
      transfer_(per_device<copy_lane>(drvs_, [&](driver& d, unsigned) {
        return std::make_unique<copy_lane>(d, graveyard_, trace_.get());
      })),
      default_(per_device<owned_stream>(drvs_, [](driver& d, unsigned) { return std::make_unique<owned_stream>(d); })),
      upload_(per_device<owned_stream>(drvs_, [](driver& d, unsigned) { return std::make_unique<owned_stream>(d); })),
      io_(io ? std::move(io) : io_engine_factory([] { return make_uring_engine(); })),
      spill_(cfg.host_memory != 0 ? std::make_unique<spill_file>(cfg.spill_dir) : nullptr),
      ctx_{*drvs_.front(), {}, uffd_, tracking_, cfg.single_pointer, cfg.readahead_bytes, ahead_, count_, {}, {}, {}} {
  ctx_.graveyard = &graveyard_;
  ctx_.io = &io_;
  ctx_.spill = spill_.get();
  ctx_.trace = trace_.get();
  ctx_.wait_ms = wait_ms(cfg);
  for (std::size_t k = 0; k < drvs_.size(); ++k) {
    ctx_.devices.push_back({drvs_[k].get(), res_[k].get(), transfer_[k].get(), upload_[k]->get()});
  }
  for (std::size_t k = 0; k < drvs_.size(); ++k) {
    std::vector<bool>& peer = ctx_.devices[k].reads_from;
    peer.assign(drvs_.size(), false);
    // Remembered: a device that cannot read another's memory gets its data through the host.
    for (std::size_t j = 0; j < drvs_.size(); ++j) peer[j] = j != k && drvs_[k]->enable_peer(*drvs_[j]);
  }
  driver* const drv0 = drvs_.front().get();
  if (cfg_.single_pointer && !drv0->info().host_at_device_va) {
    throw invalid_argument("UMPAGER_SINGLE_POINTER=1: the " + drv0->info().name +
                           " driver cannot map the CPU view at device addresses; use UMPAGER_SINGLE_POINTER=0 "
                           "and buffer::device_data() in kernels");
  }
  const std::string cpus = topo_.resolve(cfg_.cpuset, drv0->info().local_cpus);
  // Auto: one resolver per four CPUs they may use, 1 to 4 (a 2-CPU machine gets one;
  // a GPU's 16 local CPUs get four, which read-ahead keeps busy on a sequential scan).
  resolvers_ = cfg_.resolvers != 0 ? cfg_.resolvers : std::clamp(topo_.count(cpus) / 4, 1u, 4u);
  engine_ = std::make_unique<fault_engine>(
      uffd_, [this](std::uintptr_t a) { return find(a); }, drivers_of(drvs_), count_, ctx_.zap_clock, ahead_, topo_, cpus,
      resolvers_, graveyard_, trace_.get(),
      resolver_wait_options{cfg_.resolver_wait, std::uint64_t{spin_us(cfg_, topo_.count(cpus))} * 1000});
  if (trace_) trace_->sample("device bytes in use", [this] { return device_bytes_in_use(); });
  if (cfg_.host_memory != 0) {
    budget_ = std::make_unique<host_budget>(
        cfg_.host_memory,
        [this] {
          std::shared_lock g(regions_mutex_);
          std::vector<std::shared_ptr<region>> out;
          for (const auto& [base, r] : regions_) out.push_back(r);
          return out;
        },
        count_);
    ctx_.budget = budget_.get();
    if (trace_) trace_->sample("host bytes in use", [this] { return host_bytes_in_use(); });
  }
}

std::size_t runtime_impl::host_bytes_in_use() const {
  std::shared_lock g(regions_mutex_);
  std::size_t n = 0;
  for (const auto& [base, r] : regions_) n += r->host_bytes();
  return n;
}

runtime_impl::~runtime_impl() {
  budget_.reset();  // before anything it spills through
  ctx_.budget = nullptr;
  engine_.reset();
  if (cfg_.stats_summary) {
    try {
      std::fputs(stats_summary(statistics(), drvs_.front()->info().name, resolvers_).c_str(), stderr);
    } catch (...) {
      std::fputs("umpager: statistics summary failed (out of memory)\n", stderr);
    }
  }
  ahead_.clear();  // its items hold regions, which need ctx_
  // Mapped files still open get their written pages, as a free would write them.
  for (const auto& [base, r] : regions_) {
    if (!r->writes_back()) continue;
    try {
      r->flush(0, r->size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "umpager: at shutdown, %s\n", e.what());
    }
  }
  {
    std::unique_lock g(regions_mutex_);
    regions_.clear();
  }
  alive_->store(false, std::memory_order_release);
  if (trace_) trace_->finish();  // after the last event: resolvers stopped, allocations freed
}

std::size_t runtime_impl::device_bytes_in_use() const {
  std::size_t n = 0;
  for (const auto& res : res_) n += res->bytes_in_use();
  return n;
}

stats runtime_impl::statistics() const {
  stats s = count_.snapshot();
  for (const auto& res : res_) {
    s.device_bytes_in_use += res->bytes_in_use();
    s.device_bytes_slack += res->slack_bytes();
  }
  std::shared_lock g(regions_mutex_);
  for (const auto& [base, r] : regions_) {
    s.managed_bytes += r->size();
    s.metadata_bytes += r->metadata_bytes();
    s.host_bytes_in_use += r->host_bytes();
  }
  s.remote_accesses = reaches_.accesses();
  return s;
}

std::shared_ptr<region> runtime_impl::find(std::uintptr_t addr) const {
  std::shared_lock g(regions_mutex_);
  auto it = regions_.upper_bound(addr);
  if (it == regions_.begin()) return nullptr;
  --it;
  return it->second->contains(addr) ? it->second : nullptr;
}

namespace {
/// A fault block: a power of two from one page to one chunk.
void check_block(std::size_t block, const char* what, const char* alternative) {
  UMPAGER_EXPECTS(block >= 4096 && block <= (std::size_t{2} << 20) && (block & (block - 1)) == 0,
                  std::string(what) + ": block size " + std::to_string(block) + " is not a power of two from 4K to 2M" +
                      alternative);
}
}  // namespace

std::shared_ptr<region> runtime_impl::allocate(std::size_t bytes, std::size_t block) {
  UMPAGER_EXPECTS(bytes > 0, "allocate: size is zero");
  if (block == 0) block = cfg_.block_size == 0 ? adaptive_block : cfg_.block_size;
  const bool adaptive = block == adaptive_block;
  if (adaptive) block = 4096;  // the fault unit; a fault maps more where access is dense
  check_block(block, "allocate", " (or umpager::adaptive_block)");
  if (bytes > (std::size_t{1} << 46)) {
    throw out_of_memory("allocate: " + std::to_string(bytes) + " bytes is more than 64 TiB, the most one allocation may be");
  }
  std::unique_ptr<storage_file> spill;
  if (spill_) {
    // A host budget: pages start as holes (zeros) and spill past it, so RAM is no limit.
    spill = std::make_unique<storage_file>();
    spill->fd = spill_->fd();
    spill->read_fd.store(spill->fd);  // O_DIRECT already where the filesystem allows
    spill->fd_buffered = !spill_->direct();  // else what it leaves in the page cache is dropped
    spill->size = (bytes + block - 1) / block * block;
    spill->base = spill_->reserve(spill->size);
    spill->path = "the spill file in " + spill_->dir();
    spill->spill = true;
  } else if (bytes > host_memory_bytes()) {
    throw out_of_memory("allocate: " + std::to_string(bytes) + " bytes is more than this machine's memory (" +
                        std::to_string(host_memory_bytes()) + " bytes), which holds the host copy; set "
                        "UMPAGER_HOST_MEMORY to spill to storage past a budget");
  }
  auto r = std::make_shared<region>(ctx_, bytes, block, adaptive, std::move(spill));
  // The default device's chunks for it, now rather than on the first move there
  // (bounded by the budget; docs/architecture.md "Chunks created ahead").
  if (cfg_.chunks_ahead) ctx_.devices[0].res->create_ahead(r->chunk_count());
  std::unique_lock g(regions_mutex_);
  regions_.emplace(reinterpret_cast<std::uintptr_t>(r->user()), r);
  return r;
}

std::shared_ptr<region> runtime_impl::map_file(std::unique_ptr<storage_file> file, std::size_t block) {
  // An adaptive config maps files in 64 KiB blocks: each storage fault reads its block
  // in one batch, and the density tree grows over device copies only.
  if (block == 0) block = cfg_.block_size != 0 ? cfg_.block_size : std::size_t{64} << 10;
  check_block(block, "map_file", "");
  UMPAGER_EXPECTS(file->size <= (std::uint64_t{1} << 46), "map_file: " + file->path + " is larger than 64 TiB");
  // No host-memory limit: pages are read only when touched, so a file may exceed RAM.
  auto r = std::make_shared<region>(ctx_, static_cast<std::size_t>(file->size), block, false, std::move(file));
  std::unique_lock g(regions_mutex_);
  regions_.emplace(reinterpret_cast<std::uintptr_t>(r->user()), r);
  return r;
}

void runtime_impl::free(void* base) {
  std::shared_ptr<region> victim;
  if (auto r = find(reinterpret_cast<std::uintptr_t>(base)); r && r->user() == base && r->writes_back()) {
    r->flush(0, r->size());  // throws with the allocation still live: nothing is lost
  }
  {
    std::unique_lock g(regions_mutex_);
    auto it = regions_.find(reinterpret_cast<std::uintptr_t>(base));
    UMPAGER_EXPECTS(base != nullptr && it != regions_.end(),
                    "free: pointer is not the start of a live allocation (null, foreign, interior or already freed)");
    UMPAGER_EXPECTS(!it->second->in_flight(),
                    "free: the allocation is used by a prefetch, declaration or launch still in flight; synchronize "
                    "its stream (or device_synchronize) first");
    victim = std::move(it->second);
    regions_.erase(it);
  }
  reaches_.forget(*victim);  // no kernel may reach it any more
  // A resolver's read-ahead may hold the region for a moment more: wait for it
  // (bounded), so the device memory is back in the pool when free returns, as after
  // cudaFree. Past the bound the last user destroys it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx_.wait_ms);
  while (victim.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

unsigned runtime_impl::checked_device(unsigned k, const char* what) const {
  UMPAGER_EXPECTS(k < drvs_.size(), std::string(what) + ": device " + std::to_string(k) + " does not exist (this runtime has " +
                                        std::to_string(drvs_.size()) + ")");
  return k;
}

driver& runtime_impl::stream_driver(stream_view s, unsigned k) const {
  if (s.owner() == nullptr || s.is_default()) return *drvs_[k];
  for (const auto& d : drvs_) {
    if (d.get() == s.owner()) return *d;
  }
  throw invalid_argument("stream belongs to another runtime");
}

unsigned runtime_impl::device_of(const driver& d) const noexcept {
  unsigned k = 0;
  while (drvs_[k].get() != &d) ++k;
  return k;
}

stream_handle runtime_impl::stream_of(stream_view s, unsigned k) const {
  return s.is_default() ? default_[k]->get() : s.handle();
}

}  // namespace detail

using detail::live;

runtime::runtime(const config& cfg) {
  cfg.validate();
  impl_ = std::make_unique<detail::runtime_impl>(cfg, detail::make_drivers(cfg));
}

runtime::runtime(const config& cfg, std::unique_ptr<driver> drv) {
  cfg.validate();
  UMPAGER_EXPECTS(drv != nullptr, "runtime: driver is null");
  std::vector<std::unique_ptr<driver>> one;
  one.push_back(std::move(drv));
  impl_ = std::make_unique<detail::runtime_impl>(cfg, std::move(one));
}

runtime::runtime(const config& cfg, std::vector<std::unique_ptr<driver>> drivers) {
  cfg.validate();
  impl_ = std::make_unique<detail::runtime_impl>(cfg, std::move(drivers));
}

runtime::~runtime() = default;

buffer runtime::allocate(std::size_t bytes, std::size_t block_size) {
  auto r = live(impl_).allocate(bytes, block_size);
  return buffer(this, r->user(), r->device(), r->size());
}

void runtime::free(void* host_ptr) { live(impl_).free(host_ptr); }

runtime::runtime(const config& cfg, std::unique_ptr<driver> drv, io_engine_factory io) {
  cfg.validate();
  UMPAGER_EXPECTS(drv != nullptr, "runtime: driver is null");
  UMPAGER_EXPECTS(io != nullptr, "runtime: I/O engine factory is empty");
  std::vector<std::unique_ptr<driver>> one;
  one.push_back(std::move(drv));
  impl_ = std::make_unique<detail::runtime_impl>(cfg, std::move(one), std::move(io));
}

buffer runtime::map_file(const std::string& path, file_access mode, std::size_t block_size) {
  auto& impl = live(impl_);
  auto r = impl.map_file(detail::open_storage_file(path, mode == file_access::read_write, impl.cfg_.page_cache), block_size);
  return buffer(this, r->user(), r->device(), r->size());
}

buffer runtime::map_file(int fd, file_access mode, std::uint64_t offset, std::size_t length, std::size_t block_size) {
  auto& impl = live(impl_);
  auto r = impl.map_file(detail::open_storage_fd(fd, mode == file_access::read_write, offset, length, impl.cfg_.page_cache),
                         block_size);
  return buffer(this, r->user(), r->device(), r->size());
}

void runtime::flush(const void* ptr, std::size_t bytes) {
  auto [r, offset] = live(impl_).range(ptr, bytes, "flush", false);
  r->flush(offset, bytes);
}

void* runtime::device_pointer(const void* host_ptr, unsigned device) const {
  auto& impl = live(impl_);
  impl.checked_device(device, "device_pointer");
  auto r = impl.find(reinterpret_cast<std::uintptr_t>(host_ptr));
  UMPAGER_EXPECTS(r != nullptr, "device_pointer: pointer is not inside a live allocation (null, foreign or freed)");
  return r->device(device) + (static_cast<const std::byte*>(host_ptr) - r->user());
}

void runtime::synchronize() {
  auto& impl = live(impl_);
  for (std::size_t k = 0; k < impl.drvs_.size(); ++k) impl.drvs_[k]->synchronize(impl.default_[k]->get());
}

stream runtime::create_stream(unsigned device) {
  auto& impl = live(impl_);
  return stream(*impl.drvs_[impl.checked_device(device, "create_stream")], impl.alive_, impl.stream_watch_);
}

unsigned runtime::devices() const noexcept { return impl_ ? static_cast<unsigned>(impl_->drvs_.size()) : 0u; }

std::size_t runtime::device_bytes_in_use(unsigned device) const {
  auto& impl = live(impl_);
  return impl.res_[impl.checked_device(device, "device_bytes_in_use")]->bytes_in_use();
}

stats runtime::statistics() const { return live(impl_).statistics(); }

const config& runtime::configuration() const noexcept {
  static const config kDefaults{};
  return impl_ ? impl_->cfg_ : kDefaults;
}

tracking_mode runtime::tracking() const noexcept { return impl_ ? impl_->tracking_ : tracking_mode::off; }

unsigned runtime::resolvers() const noexcept { return impl_ ? impl_->resolvers_ : 0u; }

driver& runtime::device_driver(unsigned device) {
  auto& impl = live(impl_);
  return *impl.drvs_[impl.checked_device(device, "device_driver")];
}

void runtime::shutdown() { impl_.reset(); }

void buffer::reset() noexcept {
  if (rt_ != nullptr && host_ != nullptr) {
    try {
      rt_->free(host_);
    } catch (const invalid_argument&) {
      // Work in flight uses it: wait for it, as cudaFree does, then free.
      try {
        rt_->device_synchronize();
        rt_->free(host_);
      } catch (...) {
      }
    } catch (...) {
      // Runtime already shut down: its regions are gone with it.
    }
  }
  rt_ = nullptr;
  host_ = device_ = nullptr;
  bytes_ = 0;
}

}  // namespace umpager
