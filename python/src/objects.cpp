// The lifetimes: core, buffer_obj and stream_obj, and finding the allocation an array
// is a view of.
#include <algorithm>

#include "common.hpp"
#include "umpager/error.hpp"

namespace umpager::python {
namespace {

constexpr std::uintptr_t kPage = 4096;

}  // namespace

runtime_obj::~runtime_obj() {
  // A Runtime collected without close(): drop its share of the core without the GIL
  // (the shutdown, when this was the last share, joins the resolvers).
  without_gil([this] { c.reset(); });
}

void core::check(const char* what) const {
  if (closed.load(std::memory_order_acquire)) {
    raise_closed(std::string(what) + ": the Runtime is closed");
  }
}

buffer_obj::~buffer_obj() {
  // Free, then drop the core: the last allocation of a closed Runtime shuts it down.
  without_gil([this] {
    buf.reset();
    owner.reset();
  });
}

runtime& buffer_obj::rt(const char* what) const {
  owner->check(what);
  return owner->rt;
}

stream_obj::~stream_obj() {
  without_gil([this] {
    { stream gone = std::move(s); }  // destroyed before the core it belongs to
    owner.reset();
  });
}

void stream_obj::synchronize() {
  owner->check("Stream.synchronize");
  {
    py::gil_scoped_release nogil;
    s.synchronize();
  }
  in_flight.clear();
}

std::shared_ptr<core> runtime_obj::live(const char* what) const {
  if (!c) raise_closed(std::string(what) + ": the Runtime is closed");
  c->check(what);
  return c;
}

stream_view stream_arg(const py::object& s, const std::shared_ptr<core>& c, stream_obj** out) {
  if (out != nullptr) *out = nullptr;
  if (s.is_none()) return {};
  if (!py::isinstance<stream_obj>(s)) {
    raise_invalid("stream: expected an umpager.Stream (Runtime.stream()) or None, got " +
                  py::str(py::type::handle_of(s).attr("__name__")).cast<std::string>());
  }
  auto* so = s.cast<stream_obj*>();
  if (so->owner != c) raise_invalid("stream: the Stream belongs to another Runtime");
  if (!so->s.valid()) raise_closed("stream: the Stream's runtime is shut down");
  if (out != nullptr) *out = so;
  return so->s.view();
}

span_of array_span(const py::handle& a, const std::shared_ptr<core>* expect, const char* what) {
  const std::string w(what);
  if (py::isinstance<buffer_obj>(a)) {
    auto* b = a.cast<buffer_obj*>();
    if (expect != nullptr && b->owner != *expect) raise_invalid(w + ": the allocation belongs to another Runtime");
    b->rt(what);
    return {py::reinterpret_borrow<py::object>(a), b, static_cast<const std::byte*>(b->buf.data()), b->nbytes};
  }
  if (!py::isinstance<py::array>(a)) {
    raise_invalid(w + ": expected a NumPy array over umpager memory, got " +
                  py::str(py::type::handle_of(a).attr("__name__")).cast<std::string>());
  }
  // NumPy points every view's base at the object that owns the memory: ours is a Buffer.
  py::object base = a.attr("base");
  while (py::isinstance<py::array>(base)) base = base.attr("base");
  if (!py::isinstance<buffer_obj>(base)) {
    raise_invalid(w + ": the array is not umpager memory (make it with Runtime.empty, zeros, allocate or "
                      "map_file; copies and arrays from elsewhere are refused, never copied)");
  }
  auto* b = base.cast<buffer_obj*>();
  if (expect != nullptr && b->owner != *expect) raise_invalid(w + ": the array belongs to another Runtime");
  b->rt(what);
  auto arr = py::reinterpret_borrow<py::array>(a);
  if (arr.size() == 0) raise_invalid(w + ": the array is empty");
  // Lowest and highest byte any element touches (views may have negative strides).
  auto lo = reinterpret_cast<std::intptr_t>(arr.data());
  std::intptr_t hi = lo + static_cast<std::intptr_t>(arr.itemsize());
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    const std::intptr_t step = static_cast<std::intptr_t>(arr.strides(d)) * (arr.shape(d) - 1);
    (step < 0 ? lo : hi) += step;
  }
  const auto first = static_cast<std::intptr_t>(b->begin());
  if (lo < first || hi > first + static_cast<std::intptr_t>(b->buf.size())) {
    raise_invalid(w + ": the array reaches outside its allocation");
  }
  return {std::move(base), b, reinterpret_cast<const std::byte*>(lo), static_cast<std::size_t>(hi - lo)};
}

span_of page_span(const py::handle& a, const std::shared_ptr<core>* expect, const char* what) {
  span_of s = array_span(a, expect, what);
  const auto lo = reinterpret_cast<std::uintptr_t>(s.ptr) / kPage * kPage;
  const auto end = std::min(reinterpret_cast<std::uintptr_t>(s.ptr) + s.bytes + kPage - 1,
                            s.buffer->begin() + s.buffer->buf.size());
  const auto hi = std::max(end / kPage * kPage, lo + kPage);
  s.ptr = reinterpret_cast<const std::byte*>(lo);
  s.bytes = std::min<std::uintptr_t>(hi, s.buffer->begin() + s.buffer->buf.size()) - lo;
  return s;
}

}  // namespace umpager::python
