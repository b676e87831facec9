// Kernels callable from Python, each a declared launch (the arrays it touches are made
// resident and pinned for it): fill_index and add (umpager::kernels, on both drivers),
// triad (a portable functor; this file is compiled by the host compiler, so on the
// simulated device only), and the oversubscription workloads.
#include <umpager/kernels.hpp>
#include <umpager/kernels/portable.hpp>
#include <umpager/kernels/workloads.hpp>

#include "common.hpp"
#include "umpager/error.hpp"

namespace umpager::python {
namespace {

struct fill_index_op {
  std::uint32_t* d;
  std::uint32_t seed;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { d[i] = static_cast<std::uint32_t>(i) + seed; }
};

struct add_op {
  std::uint32_t* d;
  std::uint32_t delta;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { d[i] += delta; }
};

template <class T>
struct triad_op {
  T* a;
  const T* b;
  const T* c;
  T scalar;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { a[i] = b[i] + scalar * c[i]; }
};

/// A C-contiguous array of dtype `want` over umpager memory of `c`.
struct kernel_arg {
  span_of span;
  void* device;
  std::size_t n;
};

kernel_arg kernel_array(const py::object& a, const std::shared_ptr<core>& c, const py::dtype& want, const char* what) {
  span_of s = array_span(a, &c, what);
  if (!py::isinstance<py::array>(a)) raise_invalid(std::string(what) + ": expected a NumPy array");
  auto arr = py::reinterpret_borrow<py::array>(a);
  if (!arr.dtype().equal(want)) {
    raise_invalid(std::string(what) + ": expected dtype " + dtype_name(want) + ", got " +
                  dtype_name(arr.dtype()));
  }
  if ((arr.flags() & py::array::c_style) == 0) raise_invalid(std::string(what) + ": the array must be C-contiguous");
  void* dev = c->rt.device_pointer(s.ptr);
  const auto n = static_cast<std::size_t>(arr.size());
  return {std::move(s), dev, n};
}

/// Runs one declared launch of `f` over n items; holders go to the stream (or are
/// waited for on the default stream, so the call is synchronous there).
template <class F>
void declared_launch(const std::shared_ptr<core>& c, const py::object& stream, std::vector<access> set,
                     std::vector<py::object> holders, std::size_t n, F f,
                     void (*cuda_fallback)(driver&, stream_handle, const F&, std::size_t), const char* what) {
  stream_obj* so = nullptr;
  stream_view sv = stream_arg(stream, c, &so);
  const unsigned device = so != nullptr ? so->device : 0;
  driver& d = c->rt.device_driver(device);
  {
    py::gil_scoped_release nogil;
    if (d.info().name == "sim") {
      kernels::launch_n(c->rt, sv, set, n, f, device);
    } else {
      if (cuda_fallback == nullptr) {
        throw unsupported(std::string(what) + ": runs on the simulated device only in this build (the Python "
                                              "extension is compiled by the host compiler)");
      }
      if (sv.is_default()) throw invalid_argument(std::string(what) + ": on CUDA pass stream=rt.stream()");
      auto decl = c->rt.declare(set, sv, device);
      cuda_fallback(d, sv.handle(), f, n);
      decl.close();
    }
    if (so == nullptr) c->rt.synchronize();
  }
  if (so != nullptr) {
    for (auto& h : holders) so->in_flight.push_back(std::move(h));
  }
}

}  // namespace

void bind_kernels(py::class_<runtime_obj>& cls) {
  cls.def(
      "fill_index",
      [](const runtime_obj& r, const py::object& a, std::uint32_t seed, const py::object& stream) {
        const auto& c = r.live("Runtime.fill_index");
        kernel_arg k = kernel_array(a, c, py::dtype("uint32"), "Runtime.fill_index");
        std::vector<access> set{{k.span.ptr, k.span.bytes, access_mode::write}};
        declared_launch<fill_index_op>(
            c, stream, std::move(set), {k.span.holder}, k.n, fill_index_op{static_cast<std::uint32_t*>(k.device), seed},
            [](driver& d, stream_handle s, const fill_index_op& f, std::size_t n) {
              kernels::fill_index(d, s, f.d, n, f.seed);
            },
            "Runtime.fill_index");
      },
      py::arg("a"), py::arg("seed") = 0, py::arg("stream") = py::none(),
      "Device kernel: a[i] = i + seed (uint32, C-contiguous); a declared launch. stream=None waits for it.");
  cls.def(
      "add",
      [](const runtime_obj& r, const py::object& a, std::uint32_t delta, const py::object& stream) {
        const auto& c = r.live("Runtime.add");
        kernel_arg k = kernel_array(a, c, py::dtype("uint32"), "Runtime.add");
        std::vector<access> set{{k.span.ptr, k.span.bytes, access_mode::read_write}};
        declared_launch<add_op>(
            c, stream, std::move(set), {k.span.holder}, k.n, add_op{static_cast<std::uint32_t*>(k.device), delta},
            [](driver& d, stream_handle s, const add_op& f, std::size_t n) { kernels::add(d, s, f.d, n, f.delta); },
            "Runtime.add");
      },
      py::arg("a"), py::arg("delta") = 1, py::arg("stream") = py::none(),
      "Device kernel: a[i] += delta (uint32, C-contiguous); a declared launch. stream=None waits for it.");
  cls.def(
      "triad",
      [](const runtime_obj& r, const py::object& a, const py::object& b, const py::object& cc, double scalar,
         const py::object& stream) {
        const auto& c = r.live("Runtime.triad");
        if (!py::isinstance<py::array>(a)) raise_invalid("Runtime.triad: expected NumPy arrays");
        const py::dtype dt = py::reinterpret_borrow<py::array>(a).dtype();
        const bool f32 = dt.equal(py::dtype("float32"));
        if (!f32 && !dt.equal(py::dtype("float64"))) {
          raise_invalid("Runtime.triad: expected float32 or float64 arrays, got " + dtype_name(dt));
        }
        kernel_arg ka = kernel_array(a, c, dt, "Runtime.triad");
        kernel_arg kb = kernel_array(b, c, dt, "Runtime.triad");
        kernel_arg kc = kernel_array(cc, c, dt, "Runtime.triad");
        if (kb.n != ka.n || kc.n != ka.n) raise_invalid("Runtime.triad: the three arrays differ in size");
        std::vector<access> set{{kb.span.ptr, kb.span.bytes, access_mode::read},
                                {kc.span.ptr, kc.span.bytes, access_mode::read},
                                {ka.span.ptr, ka.span.bytes, access_mode::write}};
        std::vector<py::object> holders{ka.span.holder, kb.span.holder, kc.span.holder};
        if (f32) {
          declared_launch<triad_op<float>>(c, stream, std::move(set), std::move(holders), ka.n,
                                           triad_op<float>{static_cast<float*>(ka.device), static_cast<const float*>(kb.device),
                                                           static_cast<const float*>(kc.device), static_cast<float>(scalar)},
                                           nullptr, "Runtime.triad");
        } else {
          declared_launch<triad_op<double>>(c, stream, std::move(set), std::move(holders), ka.n,
                                            triad_op<double>{static_cast<double*>(ka.device), static_cast<const double*>(kb.device),
                                                             static_cast<const double*>(kc.device), scalar},
                                            nullptr, "Runtime.triad");
        }
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("scalar"), py::arg("stream") = py::none(),
      "Device kernel: a = b + scalar * c (float32 or float64, same size, C-contiguous); a declared launch. "
      "Simulated device only.");
  cls.def(
      "run_workload",
      [](const runtime_obj& r, const std::string& name, std::size_t data_bytes, std::size_t tile_bytes, unsigned passes,
         std::uint64_t seed, unsigned in_flight) {
        const auto& c = r.live("Runtime.run_workload");
        auto k = kernels::workloads::parse_kind(name);
        if (!k) raise_invalid("Runtime.run_workload: unknown workload \"" + name + "\" (triad, gups, stencil, spmv, matmul)");
        kernels::workloads::params p;
        p.data_bytes = data_bytes;
        p.tile_bytes = tile_bytes;
        p.passes = passes;
        p.seed = seed;
        p.in_flight = in_flight;
        kernels::workloads::result res;
        {
          py::gil_scoped_release nogil;
          stream s = c->rt.create_stream();
          res = kernels::workloads::run_managed(*k, p, c->rt, s);
          s.synchronize();
        }
        py::dict d;
        d["seconds"] = res.seconds;
        d["data_bytes"] = res.data_bytes;
        d["launches"] = res.launches;
        d["kernel_seconds"] = res.kernel_seconds;
        d["correct"] = res.correct;
        d["error"] = res.error;
        return d;
      },
      py::arg("name"), py::kw_only(), py::arg("data_bytes") = std::size_t{64} << 20,
      py::arg("tile_bytes") = std::size_t{8} << 20, py::arg("passes") = 3, py::arg("seed") = 1, py::arg("in_flight") = 1,
      "Runs one oversubscription workload (triad, gups, stencil, spmv, matmul) on managed memory, tiles as declared "
      "launches; returns its result as a dict.");
}

}  // namespace umpager::python
