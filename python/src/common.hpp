// Shared pieces of the _umpager extension: the runtime's shared core, the Python
// objects that keep it alive, and the array helpers every binding uses.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "umpager/runtime.hpp"

namespace umpager::python {

namespace py = pybind11;

/// Runs `fn` without the GIL when this thread holds it (the runtime may wait on its
/// resolvers or streams; nothing it waits for needs Python). Used by destructors,
/// which run wherever Python drops the last reference.
template <class Fn>
void without_gil(Fn&& fn) {
  if (Py_IsInitialized() && PyGILState_Check() && !_Py_IsFinalizing()) {
    py::gil_scoped_release nogil;
    fn();
  } else {
    fn();
  }
}

/// The C++ runtime shared by its Python Runtime and every allocation and stream made
/// from it: the last holder shuts it down, so live arrays never point at freed memory.
struct core {
  explicit core(const config& cfg) : rt(cfg) {}
  runtime rt;
  /// Set by Runtime.close(): the Python API refuses work from then on, while the
  /// memory of arrays still alive stays valid until the last of them is gone.
  std::atomic<bool> closed{false};
  void check(const char* what) const;
};

/// One allocation, the `base` of every NumPy array over it.
struct buffer_obj {
  buffer_obj(std::shared_ptr<core> c, buffer b, std::size_t visible, py::dtype dt, std::vector<py::ssize_t> shape,
             bool writable)
      : owner(std::move(c)), buf(std::move(b)), nbytes(visible), dtype(std::move(dt)), shape(std::move(shape)),
        writable(writable) {}
  buffer_obj(const buffer_obj&) = delete;
  buffer_obj& operator=(const buffer_obj&) = delete;
  ~buffer_obj();

  std::shared_ptr<core> owner;
  buffer buf;
  std::size_t nbytes;               ///< what the array shows (the allocation is rounded up)
  py::dtype dtype;                  ///< of the array made with the allocation
  std::vector<py::ssize_t> shape;
  bool writable;
  /// A live core, or ClosedError naming `what`.
  runtime& rt(const char* what) const;
  [[nodiscard]] std::uintptr_t begin() const { return reinterpret_cast<std::uintptr_t>(buf.data()); }
};

/// An owning stream; it keeps the runtime alive and the buffers its queued kernels use.
struct stream_obj {
  stream_obj(std::shared_ptr<core> c, stream s, unsigned device)
      : owner(std::move(c)), s(std::move(s)), device(device) {}
  ~stream_obj();
  std::shared_ptr<core> owner;
  stream s;
  unsigned device;
  std::vector<py::object> in_flight;  ///< buffers of queued kernels, dropped on synchronize
  void synchronize();
};

/// The Python Runtime: a handle on the core, dropped by close().
struct runtime_obj {
  explicit runtime_obj(std::shared_ptr<core> core) : c(std::move(core)) {}
  runtime_obj(runtime_obj&&) = default;
  ~runtime_obj();
  std::shared_ptr<core> c;
  /// The core, or ClosedError naming `what`.
  std::shared_ptr<core> live(const char* what) const;  // a copy: close() on another thread cannot pull it away
};

/// The bytes an array spans (its lowest to one past its highest element) and the
/// allocation holding them; InvalidArgument for anything that is not umpager memory.
struct span_of {
  py::object holder;  ///< the buffer_obj (keeps it alive while used)
  buffer_obj* buffer;
  const std::byte* ptr;
  std::size_t bytes;
};
span_of array_span(const py::handle& a, const std::shared_ptr<core>* expect, const char* what);
/// The same, widened to whole 4 KiB pages (what prefetch, advise and query take).
span_of page_span(const py::handle& a, const std::shared_ptr<core>* expect, const char* what);

/// str(dtype), e.g. "float32".
inline std::string dtype_name(const py::dtype& d) { return py::str(static_cast<const py::handle&>(d)).cast<std::string>(); }

/// Raised exception classes, created at import (errors.cpp).
void register_errors(py::module_& m);
[[noreturn]] void raise_invalid(const std::string& msg);
[[noreturn]] void raise_closed(const std::string& msg);

/// Registrations split across files.
void bind_kernels(py::class_<runtime_obj>& cls);
/// The stream a call names (None: the default stream), checked to be of `rt`'s runtime.
stream_view stream_arg(const py::object& s, const std::shared_ptr<core>& c, stream_obj** out = nullptr);
void bind_dlpack(py::class_<buffer_obj, std::shared_ptr<buffer_obj>>& cls);

}  // namespace umpager::python
