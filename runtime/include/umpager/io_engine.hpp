/// @file io_engine.hpp
/// The storage tier's I/O seam, like driver.hpp is the device's: the runtime moves
/// pages between host memory and files (mapped files, the spill file) only through
/// an io_engine. The default one is io_uring; tests wrap it to inject failures.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "umpager/span.hpp"

namespace umpager {

/// One read or write of a contiguous file range into or out of a buffer, or a read
/// from one file into another (a splice: see `target_fd`).
struct io_request {
  enum class kind : unsigned char { read, write };
  kind op = kind::read;
  int fd = -1;
  std::uint64_t offset = 0;  ///< file offset
  void* buffer = nullptr;    ///< page-aligned (O_DIRECT files need it)
  std::size_t bytes = 0;
  /// Filled by io_engine::run: bytes transferred (fewer than `bytes` only at the end of
  /// the file or when the engine gave up on a short transfer), or -errno.
  ssize_t result = 0;
  /// A read with `target_fd` >= 0 lands in that file at `target_offset` instead of in
  /// `buffer` (unused then): the storage tier reads into its memfd this way, through a
  /// pipe (splice), so no page table of a view is touched. `result` counts the bytes
  /// that reached the target; a failure on either side is its -errno. Only engines
  /// whose splices() is true are given such requests.
  int target_fd = -1;
  std::uint64_t target_offset = 0;
};

/// Runs batches of requests. One engine is used by one thread at a time (the runtime
/// keeps a pool); engines need not be thread-safe.
class io_engine {
 public:
  virtual ~io_engine() = default;
  /// Runs every request of `batch`, up to queue_depth() in flight at once, and returns
  /// when all have completed; each request's `result` says how it went. Failures of the
  /// I/O itself are results, never exceptions.
  virtual void run(umpager::span<io_request> batch) = 0;
  /// Asynchronous use (optional; the storage tier's read-ahead keeps several batches in
  /// flight this way): start() submits `batch` and returns; progress() reaps what has
  /// completed, resubmits the rest of short transfers, and returns true once every
  /// request has its result (with `wait`, it sleeps until then). readable_fd() is
  /// readable (poll) while progress() has completions to reap; -1 means the engine is
  /// synchronous only. `batch` must stay alive and unchanged until progress() returned
  /// true. The defaults run the batch to its end in start().
  virtual void start(umpager::span<io_request> batch) { run(batch); }
  virtual bool progress(bool wait) {
    (void)wait;
    return true;
  }
  [[nodiscard]] virtual int readable_fd() const noexcept { return -1; }
  /// Whether this engine runs reads with a `target_fd` (false by default: the runtime
  /// then reads into a view of its memory instead). An engine that wraps another
  /// forwards its answer.
  [[nodiscard]] virtual bool splices() const noexcept { return false; }
  /// Requests kept in flight at once.
  [[nodiscard]] virtual unsigned queue_depth() const noexcept = 0;
  [[nodiscard]] virtual std::string name() const = 0;
};

/// Makes one engine; called by the runtime when it needs another (one per thread doing
/// storage I/O at the same time). May throw (a kernel without io_uring).
using io_engine_factory = std::function<std::unique_ptr<io_engine>()>;

/// The io_uring engine (liburing): a ring of `queue_depth` entries; short transfers
/// are resubmitted for the rest, EAGAIN/EINTR retried. splices() is true: a read with a
/// target goes file -> pipe -> target through one of up to 8 pipes of 256 KiB: from an
/// O_DIRECT file as linked pairs of IORING_OP_SPLICE kept in flight, from a buffered one
/// (whose page cache the kernel reads ahead) with splice(2) on the calling thread, as
/// everywhere the kernel's io_uring lacks IORING_OP_SPLICE (or `queue_depth` < 2). Throws umpager::unsupported
/// when io_uring cannot be set up (a kernel without it, or seccomp forbidding it).
[[nodiscard]] std::unique_ptr<io_engine> make_uring_engine(unsigned queue_depth = 32);

}  // namespace umpager
