// An owning handle to one stream-ordered operation (an asynchronous prefetch):
// wait for it, or ask whether it is done. Dropping it does not wait.
#pragma once

#include <memory>

namespace umpager {

namespace detail {
class fence;
class homecoming;
}

class completion {
 public:
  /// An empty handle: already complete (what a synchronous move returns).
  completion() noexcept = default;
  explicit completion(std::shared_ptr<detail::fence> f) noexcept : fence_(std::move(f)) {}
  /// A prefetch to the host on a stream: done once `h` has mapped what came home.
  explicit completion(std::shared_ptr<detail::homecoming> h) noexcept;

  /// Waits until the stream has passed the operation. Throws closed_error after
  /// the runtime shut down (its work is then finished or abandoned), driver_error if
  /// its copies failed. A prefetch to the host has then mapped what it brought.
  void synchronize() const;
  /// True once the stream has passed the operation (and a prefetch to the host has
  /// mapped what it brought); throws as synchronize.
  [[nodiscard]] bool query() const;

 private:
  std::shared_ptr<detail::fence> fence_;
  std::shared_ptr<detail::homecoming> home_;
};

}  // namespace umpager
