// An io_engine that runs requests on the real io_uring engine except those that
// overlap an injected fault: a read or write of those file bytes fails with an errno,
// or a read stops short just before them (the storage tier's fault-injection seam).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "umpager/io_engine.hpp"

namespace umpager::testing {

struct io_faults {
  struct rule {
    io_request::kind op;
    std::uint64_t lo, hi;  ///< file bytes [lo, hi)
    int error;             ///< -errno, or 0: a short transfer ending at lo
  };
  std::mutex mutex;
  std::vector<rule> rules;
  std::atomic<std::uint64_t> injected{0};
  std::atomic<std::uint64_t> requests{0};
  /// Whether the engines splice (reads into the runtime's memfd, as the io_uring engine
  /// does); false: they make the runtime read into its alias view instead.
  std::atomic<bool> splice{true};
  std::atomic<std::uint64_t> spliced{0};  ///< requests seen that read into a target file

  void add(io_request::kind op, std::uint64_t lo, std::uint64_t hi, int error) {
    std::lock_guard g(mutex);
    rules.push_back({op, lo, hi, error});
  }
  void clear() {
    std::lock_guard g(mutex);
    rules.clear();
  }
};

class failing_io_engine final : public io_engine {
 public:
  explicit failing_io_engine(std::shared_ptr<io_faults> f) : faults_(std::move(f)), inner_(make_uring_engine(8)) {}

  void run(umpager::span<io_request> batch) override {
    start(batch);
    while (!progress(true)) {
    }
  }

  // Asynchronous like the engine it wraps: injected failures are results of requests
  // in flight, seen when progress() completes the batch.
  void start(umpager::span<io_request> batch) override {
    faults_->requests.fetch_add(batch.size());
    for (const io_request& q : batch) {
      if (q.target_fd >= 0) faults_->spliced.fetch_add(1);
    }
    batch_ = batch;
    pass_.clear();
    where_.clear();
    std::vector<io_request>& pass = pass_;
    std::vector<std::size_t>& where = where_;
    std::vector<const io_faults::rule*> hit(batch.size(), nullptr);
    {
      std::lock_guard g(faults_->mutex);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        for (const io_faults::rule& r : faults_->rules) {
          if (r.op == batch[i].op && batch[i].offset < r.hi && r.lo < batch[i].offset + batch[i].bytes) hit[i] = &r;
        }
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        io_request q = batch[i];
        if (hit[i] != nullptr) {
          const io_faults::rule& r = *hit[i];
          if (r.error != 0 || r.lo <= q.offset) {
            batch[i].result = r.error != 0 ? r.error : 0;
            faults_->injected.fetch_add(1);
            continue;
          }
          q.bytes = static_cast<std::size_t>(r.lo - q.offset);  // short: only what lies before the fault
          faults_->injected.fetch_add(1);
        }
        pass.push_back(q);
        where.push_back(i);
      }
    }
    inner_->start(pass_);
  }
  bool progress(bool wait) override {
    if (!inner_->progress(wait)) return false;
    for (std::size_t k = 0; k < pass_.size(); ++k) batch_[where_[k]].result = pass_[k].result;
    pass_.clear();  // copied once
    where_.clear();
    return true;
  }
  [[nodiscard]] int readable_fd() const noexcept override { return inner_->readable_fd(); }
  [[nodiscard]] bool splices() const noexcept override { return faults_->splice && inner_->splices(); }
  [[nodiscard]] unsigned queue_depth() const noexcept override { return inner_->queue_depth(); }
  [[nodiscard]] std::string name() const override { return "failing(" + inner_->name() + ")"; }

 private:
  std::shared_ptr<io_faults> faults_;
  std::unique_ptr<io_engine> inner_;
  umpager::span<io_request> batch_;
  std::vector<io_request> pass_;  ///< what the inner engine runs (the batch less injected failures)
  std::vector<std::size_t> where_;
};

/// A factory for runtime(cfg, driver, io) whose engines all obey `f`.
inline io_engine_factory failing_io(std::shared_ptr<io_faults> f) {
  return [f] { return std::unique_ptr<io_engine>(new failing_io_engine(f)); };
}

}  // namespace umpager::testing
