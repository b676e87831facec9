// UMPAGER_TRACE: records what the runtime did as Chrome trace events (opened by
// Perfetto and chrome://tracing) and writes them when the runtime shuts down.
// Events go into a fixed array claimed slot by slot with one atomic add, so
// recording from resolvers never locks, allocates or throws; once it is full,
// further events are counted as dropped. The file is opened at start, so a path
// that cannot be written is an error then, not at exit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "os/fd.hpp"

namespace umpager::detail {

/// Monotonic nanoseconds (steady_clock): fault waits and trace timestamps.
[[nodiscard]] std::uint64_t now_ns() noexcept;
/// The calling thread's kernel id (cached per thread).
[[nodiscard]] std::uint32_t this_thread_id() noexcept;

class trace_recorder {
 public:
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 20;

  /// Opens (creates, truncates) `path`; throws system_error naming it.
  explicit trace_recorder(const std::string& path, std::size_t capacity = kDefaultCapacity);
  ~trace_recorder();
  trace_recorder(const trace_recorder&) = delete;
  trace_recorder& operator=(const trace_recorder&) = delete;

  /// A complete event [start, end) on track `tid`. `name`, `cat` and `arg_name`
  /// must be string literals (they are written at finish). Never blocks or throws.
  void complete(const char* name, const char* cat, std::uint32_t tid, std::uint64_t start_ns, std::uint64_t end_ns,
                const char* arg_name = nullptr, std::uint64_t arg = 0) noexcept;
  /// A value of the counter track `name` (a literal) at `at_ns`.
  void counter(const char* name, std::uint64_t value, std::uint64_t at_ns) noexcept;

  /// A track of its own (a copy lane, a stream), named `label`; returns its id.
  /// Allocates: call while setting up, not on the fault path.
  std::uint32_t add_track(const std::string& label);
  /// The track of launches on stream `key`, made on first use.
  std::uint32_t stream_track(const void* key);
  /// Names the real thread `tid` (a resolver).
  void name_thread(std::uint32_t tid, const std::string& label);
  /// A copy of `bytes` enqueued on stream `stream_key` (stream-ordered prefetches and
  /// declarations): shown on the stream's track at the moment it was enqueued, with no
  /// duration, since only the device knows when it ran. `name` must be a literal.
  void enqueued_copy(const char* name, const void* stream_key, std::uint64_t bytes);
  /// Wraps a launch so that it shows as an event on its stream's track.
  std::function<void()> traced_launch(std::function<void()> fn, const void* stream_key);
  /// Samples `fn` into the counter track `name` (a literal) every millisecond, and
  /// when finishing; an event is written only when the value changes.
  void sample(const char* name, std::function<std::uint64_t()> fn);
  /// Samples now (after a prefetch), so a short change still shows.
  void sample_now() noexcept;

  /// Samples when it goes out of scope (a prefetch or declaration that changed
  /// residency); does nothing for a null recorder.
  class sample_on_exit {
   public:
    explicit sample_on_exit(trace_recorder* t) noexcept : t_(t) {}
    ~sample_on_exit() {
      if (t_ != nullptr) t_->sample_now();
    }
    sample_on_exit(const sample_on_exit&) = delete;
    sample_on_exit& operator=(const sample_on_exit&) = delete;

   private:
    trace_recorder* t_;
  };

  /// Stops sampling and writes the file, once; a write error is reported on stderr.
  void finish() noexcept;
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct event {
    const char* name;
    const char* cat;
    const char* arg_name;
    std::uint64_t ts, dur, arg;
    std::uint32_t tid;
    char ph;
    std::uint8_t ready;  ///< set last (atomic_ref, release): finish writes only ready slots
  };
  struct free_deleter {
    void operator()(event* e) const noexcept;
  };
  event* claim() noexcept;
  static void fill(event* e, const char* name, const char* cat, const char* arg_name, std::uint64_t ts,
                   std::uint64_t dur, std::uint64_t arg, std::uint32_t tid, char ph) noexcept;
  void sample_once() noexcept;
  void write_all() noexcept;

  std::string path_;
  os::unique_fd fd_;
  std::uint64_t origin_ns_;
  std::uint32_t pid_;
  std::size_t capacity_;
  std::unique_ptr<event, free_deleter> events_;  ///< calloc'ed: pages are touched only when used
  std::atomic<std::size_t> next_{0};
  std::atomic<std::uint64_t> dropped_{0};

  std::mutex tracks_mutex_;
  std::vector<std::pair<std::uint32_t, std::string>> names_;  ///< thread and track names
  std::map<const void*, std::uint32_t> streams_;
  std::uint32_t next_track_;

  const char* sample_name_ = nullptr;
  std::function<std::uint64_t()> sample_fn_;
  std::uint64_t last_sample_ = ~std::uint64_t{0};
  std::mutex sample_mutex_;
  std::condition_variable sample_cv_;
  bool stopping_ = false;
  std::thread sampler_;
  std::atomic<bool> finished_{false};
};

}  // namespace umpager::detail
