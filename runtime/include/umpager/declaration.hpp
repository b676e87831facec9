// A launch declaration (runtime::declare): the ranges a kernel on a stream reads
// and writes are resident and pinned from declare() until the stream passes the
// point recorded by close() (or the destructor), after the user's kernel(s).
#pragma once

#include <memory>

namespace umpager {

namespace detail {
struct declaration_state;
}

class declaration {
 public:
  declaration() noexcept;
  explicit declaration(std::unique_ptr<detail::declaration_state> s) noexcept;
  declaration(declaration&&) noexcept;
  declaration& operator=(declaration&&) noexcept;
  declaration(const declaration&) = delete;
  declaration& operator=(const declaration&) = delete;
  /// Closes if still open; a failure is reported on stderr (close() to get it).
  ~declaration();

  /// Records the declaring stream's current point (after the kernels enqueued
  /// since declare): the ranges stay pinned until the stream passes it, and the
  /// written ranges become device copies (a CPU touch faults them back after it).
  /// Throws closed_error after shutdown; a second call does nothing.
  void close();
  [[nodiscard]] bool is_open() const noexcept { return state_ != nullptr; }

 private:
  std::unique_ptr<detail::declaration_state> state_;
};

}  // namespace umpager
