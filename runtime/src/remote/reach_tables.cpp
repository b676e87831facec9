#include "reach_tables.hpp"

namespace umpager::detail {

chunk_table& reach_tables::table(const std::shared_ptr<region>& r, unsigned dev, driver& d, std::size_t chunks) {
  std::lock_guard g(mutex_);
  entry& e = tables_[r.get()];
  e.r = r;
  if (e.by_device.size() <= dev) e.by_device.resize(dev + 1);
  if (!e.by_device[dev]) e.by_device[dev] = std::make_unique<chunk_table>(d, chunks);
  return *e.by_device[dev];
}

chunk_table* reach_tables::find(const region& r, unsigned dev) {
  std::lock_guard g(mutex_);
  auto it = tables_.find(&r);
  if (it == tables_.end() || it->second.by_device.size() <= dev) return nullptr;
  return it->second.by_device[dev].get();
}

void reach_tables::forget(const region& r) noexcept {
  std::lock_guard g(mutex_);
  auto it = tables_.find(&r);
  if (it == tables_.end()) return;
  for (const auto& t : it->second.by_device) {
    try {
      if (t) forgotten_ += t->accesses();
    } catch (...) {  // a driver that cannot read its counters: they are lost, nothing else
    }
  }
  tables_.erase(it);
}

std::uint64_t reach_tables::accesses() const {
  std::lock_guard g(mutex_);
  std::uint64_t sum = forgotten_;
  for (const auto& [key, e] : tables_) {
    for (const auto& t : e.by_device) sum += t ? t->accesses() : 0;
  }
  return sum;
}

std::vector<std::shared_ptr<region>> reach_tables::on_device(unsigned dev) {
  std::vector<std::shared_ptr<region>> out;
  std::lock_guard g(mutex_);
  for (const auto& [key, e] : tables_) {
    auto r = e.r.lock();
    if (r != nullptr && e.by_device.size() > dev && e.by_device[dev]) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace umpager::detail
