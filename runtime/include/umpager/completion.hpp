// An owning handle to one stream-ordered operation (an asynchronous prefetch):
// wait for it, or ask whether it is done. Dropping it does not wait.
#pragma once

#include <memory>

namespace umpager {

namespace detail {
class fence;
}

class completion {
 public:
  /// An empty handle: already complete (what a synchronous move returns).
  completion() noexcept = default;
  explicit completion(std::shared_ptr<detail::fence> f) noexcept : fence_(std::move(f)) {}

  /// Waits until the stream has passed the operation. Throws closed_error after
  /// the runtime shut down (its work is then finished or abandoned).
  void synchronize() const;
  /// True once the stream has passed the operation.
  [[nodiscard]] bool query() const;

 private:
  std::shared_ptr<detail::fence> fence_;
};

}  // namespace umpager
