// umpager._umpager: Runtime, Buffer, Stream, Completion, Declaration and RangeInfo.
// The lifetimes are in objects.cpp, errors in errors.cpp, config keywords in config.cpp,
// DLPack in dlpack.cpp, kernels in kernels.cpp.
#include <fcntl.h>
#include <pybind11/stl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common.hpp"
#include "config_py.hpp"
#include "umpager/error.hpp"

namespace umpager::python {
namespace {

/// Keeps the buffers of a declaration or an asynchronous prefetch alive, and the
/// stream it is on, until it is waited for.
struct completion_obj {
  completion done;
  std::vector<py::object> holders;
  std::shared_ptr<core> owner;
  ~completion_obj() {
    without_gil([this] {
      done = completion{};
      owner.reset();
    });
  }
  void synchronize() {
    {
      py::gil_scoped_release nogil;
      done.synchronize();
    }
    holders.clear();
  }
  bool query() {
    const bool q = done.query();
    if (q) holders.clear();
    return q;
  }
};

/// `with rt.declare(reads=[a], writes=[b], stream=s):`
struct declaration_obj {
  std::shared_ptr<core> owner;
  std::vector<access> set;
  std::vector<py::object> holders;
  py::object stream;  ///< the Stream object (None: default stream)
  unsigned device = 0;
  declaration decl;
  bool entered = false;
  ~declaration_obj() {
    // Dropped while open: the destructor closes it, which may wait.
    without_gil([this] {
      decl = declaration{};
      owner.reset();  // the buffers in `holders` still hold the core, if any are left
    });
  }

  void enter() {
    if (entered) raise_invalid("Declaration: already entered (a declaration is used once)");
    owner->check("Runtime.declare");
    stream_view sv = stream_arg(stream, owner);
    {
      py::gil_scoped_release nogil;
      decl = owner->rt.declare(set, sv, device);
    }
    entered = true;
  }
  void exit() {
    if (!decl.is_open()) return;
    {
      py::gil_scoped_release nogil;
      decl.close();
    }
    // The set stays pinned until the stream passes the close point: the stream keeps
    // the buffers until it is synchronized.
    if (!stream.is_none()) {
      auto* so = stream.cast<stream_obj*>();
      for (auto& h : holders) so->in_flight.push_back(h);
    }
    holders.clear();
  }
};

/// What Runtime.query returns.
struct range_info_obj {
  py::array_t<std::uint8_t> pages;    ///< page_where per 4 KiB page
  py::array_t<std::uint32_t> devices; ///< the device of shared/device pages
  py::object last_prefetch;
  py::object preferred_location;
  bool read_mostly = false;
};

py::object placement_obj(const std::optional<placement>& p) {
  if (!p) return py::none();
  if (p->on_host) return py::str("host");
  return py::make_tuple("device", p->device);
}

location location_arg(const std::string& to, const char* what) {
  if (to == "device") return location::device;
  if (to == "host") return location::host;
  raise_invalid(std::string(what) + ": expected \"device\" or \"host\", got \"" + to + "\"");
}

/// A dtype Python may put in managed memory: fixed size, no Python objects.
py::dtype dtype_arg(const py::object& dt, const char* what) {
  py::dtype d;
  try {
    d = py::dtype::from_args(dt);
  } catch (py::error_already_set&) {
    raise_invalid(std::string(what) + ": not a NumPy dtype: " + py::repr(dt).cast<std::string>());
  }
  if (d.attr("hasobject").cast<bool>()) {
    raise_invalid(std::string(what) + ": dtype " + dtype_name(d) +
                  " holds Python objects, which managed memory cannot hold");
  }
  if (d.itemsize() <= 0) raise_invalid(std::string(what) + ": dtype " + dtype_name(d) + " has no size");
  return d;
}

std::vector<py::ssize_t> shape_arg(const py::object& shape, const char* what) {
  std::vector<py::ssize_t> out;
  auto one = [&](const py::handle& v) {
    if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) {
      raise_invalid(std::string(what) + ": shape entries must be ints, got " + py::repr(v).cast<std::string>());
    }
    const long long n = v.cast<long long>();
    if (n < 0) raise_invalid(std::string(what) + ": negative dimension " + std::to_string(n));
    out.push_back(static_cast<py::ssize_t>(n));
  };
  if (py::isinstance<py::int_>(shape)) {
    one(shape);
  } else if (py::isinstance<py::tuple>(shape) || py::isinstance<py::list>(shape)) {
    for (auto v : shape) one(v);
  } else {
    raise_invalid(std::string(what) + ": shape must be an int or a tuple of ints, got " +
                  py::repr(shape).cast<std::string>());
  }
  return out;
}

std::size_t nbytes_of(const std::vector<py::ssize_t>& shape, std::size_t itemsize, const char* what) {
  std::size_t n = itemsize;
  for (auto d : shape) {
    const auto u = static_cast<std::size_t>(d);
    if (u != 0 && n > std::numeric_limits<std::size_t>::max() / u) raise_invalid(std::string(what) + ": too large");
    n *= u;
  }
  return n;
}

/// A NumPy array over the whole of `b` (its dtype and shape), based on the Buffer.
py::array array_of(const std::shared_ptr<buffer_obj>& b) {
  py::object owner = py::cast(b);
  py::array a(b->dtype, b->shape, b->buf.data(), owner);
  if (!b->writable) {
    a.attr("flags").attr("writeable") = false;
  }
  return a;
}

/// Allocates and wraps; the GIL is released while the runtime allocates.
std::shared_ptr<buffer_obj> new_buffer(const std::shared_ptr<core>& c, std::size_t visible, py::dtype dt,
                                       std::vector<py::ssize_t> shape) {
  buffer b;
  {
    py::gil_scoped_release nogil;
    b = c->rt.allocate(visible == 0 ? 1 : visible);  // the runtime refuses 0 bytes; an empty array still gets a page
  }
  return std::make_shared<buffer_obj>(c, std::move(b), visible, std::move(dt), std::move(shape), true);
}

std::vector<access> access_set(const py::object& reads, const py::object& writes, const py::object& read_writes,
                               const std::shared_ptr<core>& c, std::vector<py::object>& holders, const char* what) {
  std::vector<access> set;
  auto add = [&](const py::object& seq, access_mode m, const char* name) {
    if (seq.is_none()) return;
    if (!py::isinstance<py::sequence>(seq) || py::isinstance<py::str>(seq) || py::isinstance<py::array>(seq)) {
      raise_invalid(std::string(what) + ": " + name + " must be a list of arrays (reads=[a], not reads=a)");
    }
    for (auto a : seq) {
      span_of s = array_span(a, &c, what);
      set.push_back({s.ptr, s.bytes, m});
      holders.push_back(std::move(s.holder));
    }
  };
  add(reads, access_mode::read, "reads");
  add(writes, access_mode::write, "writes");
  add(read_writes, access_mode::read_write, "read_writes");
  if (set.empty()) raise_invalid(std::string(what) + ": nothing declared (give reads, writes or read_writes)");
  return set;
}

}  // namespace

PYBIND11_MODULE(_umpager, m) {
  m.doc() = "umpager: user-space unified memory for GPU programs (the compiled layer; import umpager).";
  register_errors(m);

  py::class_<buffer_obj, std::shared_ptr<buffer_obj>> buf(m, "Buffer", R"doc(
One managed allocation: the ``base`` of every NumPy array over it.

It holds the allocation and its runtime: the memory stays valid while any array (or
DLPack consumer) over it is alive, even after ``Runtime.close()``.)doc");
  buf.def_property_readonly("nbytes", [](const buffer_obj& b) { return b.nbytes; },
                            "Bytes the array shows (the allocation is rounded up to whole blocks).")
      .def_property_readonly("allocated_bytes", [](const buffer_obj& b) { return b.buf.size(); },
                             "Bytes of the allocation (rounded up to its block size).")
      .def_property_readonly("address", [](const buffer_obj& b) { return b.begin(); }, "The CPU address (an int).")
      .def_property_readonly("device_address",
                             [](const buffer_obj& b) { return reinterpret_cast<std::uintptr_t>(b.buf.device_data()); },
                             "The device address on device 0 (valid in kernels while resident there).")
      .def_property_readonly("dtype", [](const buffer_obj& b) { return b.dtype; }, "The dtype it was made with.")
      .def_property_readonly("shape", [](const buffer_obj& b) { return py::tuple(py::cast(b.shape)); },
                             "The shape it was made with.")
      .def_property_readonly("closed", [](const buffer_obj& b) { return b.owner->closed.load(); },
                             "True once its Runtime is closed (the memory itself stays valid).")
      .def("__array__",
           [](const std::shared_ptr<buffer_obj>& b, const py::object& dtype) -> py::object {
             py::array a = array_of(b);
             if (dtype.is_none()) return a;
             return a.attr("astype")(dtype, py::arg("copy") = false);  // asked-for conversion: a copy unless same dtype
           },
           py::arg("dtype") = py::none(), "A NumPy array over the whole allocation (zero-copy unless dtype converts).")
      .def("__repr__", [](const buffer_obj& b) {
        return "<umpager.Buffer " + std::to_string(b.nbytes) + " bytes at 0x" +
               py::str(py::int_(b.begin()).attr("__format__")("x")).cast<std::string>() +
               (b.owner->closed ? " (runtime closed)>" : ">");
      });
  bind_dlpack(buf);

  py::class_<stream_obj, std::shared_ptr<stream_obj>>(m, "Stream", R"doc(
A stream of one device (Runtime.stream()). Work on it runs in order, asynchronously;
the buffers its queued work uses stay alive until synchronize().)doc")
      .def("synchronize", &stream_obj::synchronize, "Waits for the stream's work (the GIL is released).")
      .def_property_readonly("device", [](const stream_obj& s) { return s.device; }, "The device index.")
      .def_property_readonly("native", [](const stream_obj& s) { return reinterpret_cast<std::uintptr_t>(s.s.native()); },
                             "The native stream handle (cudaStream_t as an int; 0 on the simulated device).")
      .def_property_readonly("valid", [](const stream_obj& s) { return s.s.valid(); },
                             "False once the runtime that made it is shut down.");

  py::class_<completion_obj, std::shared_ptr<completion_obj>>(m, "Completion", R"doc(
One stream-ordered operation (an asynchronous prefetch). Dropping it does not wait.)doc")
      .def("synchronize", &completion_obj::synchronize, "Waits until the stream has passed the operation (no GIL).")
      .def("query", &completion_obj::query, "True once the stream has passed the operation.")
      .def_property_readonly("done", &completion_obj::query, "Same as query().");

  py::class_<declaration_obj, std::shared_ptr<declaration_obj>>(m, "Declaration", R"doc(
A launch declaration (Runtime.declare): inside ``with``, the declared arrays are resident
on the device and pinned; leaving it records the stream's point, after which the
written ranges are device copies (a CPU touch brings them back).)doc")
      .def("__enter__", [](const std::shared_ptr<declaration_obj>& d) { d->enter(); return d; })
      .def("__exit__", [](declaration_obj& d, const py::object&, const py::object&, const py::object&) {
        d.exit();
        return false;
      })
      .def("close", &declaration_obj::exit, "Leaves the declaration (what __exit__ does); a second call does nothing.")
      .def_property_readonly("is_open", [](const declaration_obj& d) { return d.decl.is_open(); },
                             "True between __enter__ and __exit__.");

  py::class_<range_info_obj>(m, "RangeInfo", R"doc(
What Runtime.query reports: ``pages`` (uint8 per 4 KiB page: PAGE_HOST, PAGE_SHARED,
PAGE_DEVICE, PAGE_STORAGE), ``devices`` (uint32: the device of shared and device
pages), ``last_prefetch`` and ``preferred_location`` (None, "host" or ("device", k)),
``read_mostly``.)doc")
      .def_readonly("pages", &range_info_obj::pages, "Where each 4 KiB page's valid copies are (uint8 codes).")
      .def_readonly("devices", &range_info_obj::devices, "Device of each shared or device page.")
      .def_readonly("last_prefetch", &range_info_obj::last_prefetch, "The last prefetch's target, if all agree.")
      .def_readonly("preferred_location", &range_info_obj::preferred_location, "Preferred location, if all agree.")
      .def_readonly("read_mostly", &range_info_obj::read_mostly, "Read-mostly advice on every page.")
      .def("__repr__", [](const range_info_obj& r) {
        return "<umpager.RangeInfo " + std::to_string(r.pages.size()) + " pages>";
      });
  m.attr("PAGE_HOST") = static_cast<int>(page_where::host);
  m.attr("PAGE_SHARED") = static_cast<int>(page_where::shared);
  m.attr("PAGE_DEVICE") = static_cast<int>(page_where::device);
  m.attr("PAGE_STORAGE") = static_cast<int>(page_where::storage);
  m.attr("PAGE_SIZE") = 4096;

  py::class_<runtime_obj> rt(m, "Runtime", R"doc(
Runtime(**config): one umpager runtime (driver, resolver threads, device budget).

With no keywords the configuration is the UMPAGER_* variables; keywords override
them and are umpager::config's field names (device_memory="64M", driver="sim", ...).
A context manager: leaving ``with`` calls close().

close() is deferred for memory that is still used: the Runtime refuses every call
from then on (ClosedError), and arrays still alive keep their memory valid; the
C++ runtime shuts down when the last of them is gone.)doc");
  rt.def(py::init([](const py::kwargs& kw) {
           config cfg = config_from(kw);
           std::shared_ptr<core> c;
           {
             py::gil_scoped_release nogil;
             c = std::make_shared<core>(cfg);
           }
           return runtime_obj(std::move(c));
         }),
         "Starts a runtime; keywords are config fields (see Runtime.config).")
      .def("close",
           [](runtime_obj& r) {
             if (!r.c) return;
             r.c->closed.store(true, std::memory_order_release);
             std::shared_ptr<core> last = std::move(r.c);
             py::gil_scoped_release nogil;
             last.reset();  // shuts down now unless arrays or streams still hold the core
           },
           "Closes: later calls raise ClosedError; memory of live arrays stays valid until they are gone.")
      .def_property_readonly("closed", [](const runtime_obj& r) { return !r.c || r.c->closed.load(); },
                             "True after close().")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__",
           [](py::object self, const py::object&, const py::object&, const py::object&) {
             self.attr("close")();
             return false;
           })
      .def_property_readonly("config", [](const runtime_obj& r) { return config_dict(r.live("Runtime.config")->rt.configuration()); },
                             "The configuration in force, as a dict of config fields.")
      .def_property_readonly("devices", [](const runtime_obj& r) { return r.live("Runtime.devices")->rt.devices(); },
                             "How many devices this runtime drives.")
      .def_property_readonly("driver_name",
                             [](const runtime_obj& r) { return r.live("Runtime.driver_name")->rt.device_driver(0).info().name; },
                             "\"sim\" or \"cuda\".")
      .def("empty",
           [](const runtime_obj& r, const py::object& shape, const py::object& dtype) {
             const auto& c = r.live("Runtime.empty");
             py::dtype dt = dtype_arg(dtype, "Runtime.empty");
             auto sh = shape_arg(shape, "Runtime.empty");
             const std::size_t n = nbytes_of(sh, dt.itemsize(), "Runtime.empty");
             return array_of(new_buffer(c, n, dt, sh));
           },
           py::arg("shape"), py::arg("dtype") = py::str("float64"),
           "A NumPy array over new managed memory; its contents are unspecified (use zeros for zeros).")
      .def("zeros",
           [](const runtime_obj& r, const py::object& shape, const py::object& dtype) {
             const auto& c = r.live("Runtime.zeros");
             py::dtype dt = dtype_arg(dtype, "Runtime.zeros");
             auto sh = shape_arg(shape, "Runtime.zeros");
             const std::size_t n = nbytes_of(sh, dt.itemsize(), "Runtime.zeros");
             auto b = new_buffer(c, n, dt, sh);
             {
               py::gil_scoped_release nogil;
               std::memset(b->buf.data(), 0, n);  // fresh memory is not documented to be zero
             }
             return array_of(b);
           },
           py::arg("shape"), py::arg("dtype") = py::str("float64"), "Like empty, filled with zeros.")
      .def("allocate",
           [](const runtime_obj& r, const py::object& nbytes) {
             const auto& c = r.live("Runtime.allocate");
             if (!py::isinstance<py::int_>(nbytes) || py::isinstance<py::bool_>(nbytes)) {
               raise_invalid("Runtime.allocate: nbytes must be an int, got " + py::repr(nbytes).cast<std::string>());
             }
             const long long n = nbytes.cast<long long>();
             if (n <= 0) raise_invalid("Runtime.allocate: nbytes must be positive, got " + std::to_string(n));
             std::vector<py::ssize_t> sh{static_cast<py::ssize_t>(n)};
             return array_of(new_buffer(c, static_cast<std::size_t>(n), py::dtype("uint8"), sh));
           },
           py::arg("nbytes"), "A 1-D uint8 array over nbytes of new managed memory (contents unspecified).")
      .def("map_file",
           [](const runtime_obj& r, const py::object& file, const std::string& mode, const py::object& dtype,
              const py::object& shape, std::uint64_t offset, const py::object& length) {
             const auto& c = r.live("Runtime.map_file");
             // An int is an open descriptor (os.open, f.fileno()); anything else a path.
             const bool by_fd = py::isinstance<py::int_>(file) && !py::isinstance<py::bool_>(file);
             const int fd = by_fd ? file.cast<int>() : -1;
             const std::string path =
                 by_fd ? "fd " + std::to_string(fd)
                       : py::str(py::module_::import("os").attr("fspath")(file)).cast<std::string>();
             file_access fa;
             bool writable;
             if (mode == "r") {
               fa = file_access::read_only, writable = false;
             } else if (mode == "c") {
               fa = file_access::read_only, writable = true;
             } else if (mode == "r+") {
               fa = file_access::read_write, writable = true;
             } else {
               raise_invalid("Runtime.map_file: mode must be \"r\", \"c\" or \"r+\", got \"" + mode + "\"");
             }
             if (!length.is_none() && length.cast<long long>() < 0) raise_invalid("Runtime.map_file: length is negative");
             const std::size_t len = length.is_none() ? 0 : length.cast<std::size_t>();
             struct stat st {};
             if ((by_fd ? ::fstat(fd, &st) : ::stat(path.c_str(), &st)) != 0) {
               throw system_error(errno, "Runtime.map_file: " + path);  // FileNotFound for ENOENT
             }
             py::dtype dt = dtype_arg(dtype, "Runtime.map_file");
             // What the mapping shows: the range asked for (the runtime checks it against the file).
             const auto file_size = static_cast<std::uint64_t>(st.st_size);
             const auto size = static_cast<std::size_t>(len != 0 ? len : file_size > offset ? file_size - offset : 0);
             std::vector<py::ssize_t> sh;
             if (shape.is_none()) {
               if (S_ISREG(st.st_mode) && size % static_cast<std::size_t>(dt.itemsize()) != 0) {
                 raise_invalid("Runtime.map_file: the file's " + std::to_string(size) + " bytes are not a whole number of " +
                               dtype_name(dt) + " (give shape)");
               }
               sh.push_back(static_cast<py::ssize_t>(size / static_cast<std::size_t>(dt.itemsize())));
             } else {
               sh = shape_arg(shape, "Runtime.map_file");
             }
             const std::size_t n = nbytes_of(sh, dt.itemsize(), "Runtime.map_file");
             if (S_ISREG(st.st_mode) && n > size) {
               raise_invalid("Runtime.map_file: shape needs " + std::to_string(n) + " bytes, the file has " +
                             std::to_string(size));
             }
             buffer b;
             {
               py::gil_scoped_release nogil;
               if (by_fd) {
                 b = c->rt.map_file(fd, fa, offset, len);
               } else if (offset == 0 && len == 0) {
                 b = c->rt.map_file(path, fa);
               } else {  // a range of a path: through a descriptor of our own, closed at once
                 const int own = ::open(path.c_str(), (fa == file_access::read_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
                 if (own < 0) throw system_error(errno, "Runtime.map_file: " + path);
                 try {
                   b = c->rt.map_file(own, fa, offset, len);
                 } catch (...) {
                   ::close(own);
                   throw;
                 }
                 ::close(own);
               }
             }
             auto bo = std::make_shared<buffer_obj>(c, std::move(b), n, dt, sh, writable);
             return array_of(bo);
           },
           py::arg("path"), py::arg("mode") = "r", py::arg("dtype") = py::str("uint8"), py::arg("shape") = py::none(),
           py::arg("offset") = 0, py::arg("length") = py::none(),
           R"doc(A NumPy array over a file made managed memory (read on first touch; may exceed RAM).

path: a path, or an open descriptor (an int; umpager keeps a duplicate, so it may be
closed at once). mode "r": read-only array; "c": writable, writes stay in memory (never
the file); "r+": writes go back to the file on flush() and when the memory is freed
(a descriptor must then be open O_RDWR). offset (a multiple of 4096) and length (None:
to the end of the file) map part of the file; only that part is read or written.)doc")
      .def("flush",
           [](const runtime_obj& r, const py::object& a) {
             const auto& c = r.live("Runtime.flush");
             span_of s = array_span(a, &c, "Runtime.flush");
             py::gil_scoped_release nogil;
             c->rt.flush(s.buffer->buf.data(), s.buffer->buf.size());
           },
           py::arg("a"), "Writes the written pages of a map_file(mode=\"r+\") array to its file (durable on return).")
      .def("prefetch",
           [](const runtime_obj& r, const py::object& a, const std::string& to, const py::object& stream,
              unsigned device) {
             const auto& c = r.live("Runtime.prefetch");
             const location where = location_arg(to, "Runtime.prefetch: to");
             span_of s = page_span(a, &c, "Runtime.prefetch");
             stream_obj* so = nullptr;
             stream_view sv = stream_arg(stream, c, &so);
             auto out = std::make_shared<completion_obj>();
             out->owner = c;
             {
               py::gil_scoped_release nogil;
               out->done = c->rt.prefetch(s.ptr, s.bytes, where, sv, device);
             }
             if (so != nullptr) so->in_flight.push_back(s.holder);
             out->holders.push_back(std::move(s.holder));
             return out;
           },
           py::arg("a"), py::arg("to") = "device", py::arg("stream") = py::none(), py::arg("device") = 0,
           R"doc(Moves the pages an array spans to "device" or "host"; returns a Completion.

On a Stream the move is asynchronous and stream-ordered; with stream=None it is done
on return. The range is widened to whole 4 KiB pages.)doc")
      .def("advise",
           [](const runtime_obj& r, const py::object& a, const std::string& advice_name, const std::string& where,
              unsigned device) {
             const auto& c = r.live("Runtime.advise");
             advice adv;
             if (advice_name == "read_mostly") adv = advice::set_read_mostly;
             else if (advice_name == "unset_read_mostly") adv = advice::unset_read_mostly;
             else if (advice_name == "preferred_location") adv = advice::set_preferred_location;
             else if (advice_name == "unset_preferred_location") adv = advice::unset_preferred_location;
             else if (advice_name == "accessed_by") adv = advice::set_accessed_by;
             else if (advice_name == "unset_accessed_by") adv = advice::unset_accessed_by;
             else {
               raise_invalid("Runtime.advise: advice must be read_mostly, unset_read_mostly, preferred_location, "
                             "unset_preferred_location, accessed_by or unset_accessed_by; got \"" + advice_name + "\"");
             }
             const location loc = location_arg(where, "Runtime.advise: location");
             span_of s = page_span(a, &c, "Runtime.advise");
             py::gil_scoped_release nogil;
             c->rt.advise(s.ptr, s.bytes, adv, loc, device);
           },
           py::arg("a"), py::arg("advice"), py::arg("location") = "device", py::arg("device") = 0,
           "cudaMemAdvise over the pages an array spans (accessed_by: the device reaches it where it is).")
      .def("attach",
           [](const runtime_obj& r, const py::object& a, const std::string& to, const py::object& stream) {
             const auto& c = r.live("Runtime.attach");
             attach_to w;
             if (to == "global") w = attach_to::global;
             else if (to == "host") w = attach_to::host;
             else if (to == "single") w = attach_to::single;
             else raise_invalid("Runtime.attach: to must be \"global\", \"host\" or \"single\", got \"" + to + "\"");
             span_of s = array_span(a, &c, "Runtime.attach");
             stream_view sv = stream_arg(stream, c);
             py::gil_scoped_release nogil;
             c->rt.attach(s.ptr, w, sv);
           },
           py::arg("a"), py::arg("to") = "global", py::arg("stream") = py::none(),
           "cudaStreamAttachMemAsync for the allocation an array is over.")
      .def("query",
           [](const runtime_obj& r, const py::object& a) {
             const auto& c = r.live("Runtime.query");
             span_of s = page_span(a, &c, "Runtime.query");
             range_info info;
             {
               py::gil_scoped_release nogil;
               info = c->rt.query(s.ptr, s.bytes);
             }
             range_info_obj out;
             const auto n = static_cast<py::ssize_t>(info.pages.size());
             out.pages = py::array_t<std::uint8_t>(n);
             out.devices = py::array_t<std::uint32_t>(n);
             auto pw = out.pages.mutable_unchecked<1>();
             auto dw = out.devices.mutable_unchecked<1>();
             for (py::ssize_t i = 0; i < n; ++i) {
               pw(i) = static_cast<std::uint8_t>(info.pages[static_cast<std::size_t>(i)].where);
               dw(i) = info.pages[static_cast<std::size_t>(i)].device;
             }
             out.last_prefetch = placement_obj(info.last_prefetch);
             out.preferred_location = placement_obj(info.preferred_location);
             out.read_mostly = info.read_mostly;
             return out;
           },
           py::arg("a"), "Where each 4 KiB page an array spans is (a RangeInfo).")
      .def("synchronize",
           [](const runtime_obj& r) {
             const auto& c = r.live("Runtime.synchronize");
             py::gil_scoped_release nogil;
             c->rt.synchronize();
           },
           "Waits for the runtime's default streams.")
      .def("device_synchronize",
           [](const runtime_obj& r) {
             const auto& c = r.live("Runtime.device_synchronize");
             py::gil_scoped_release nogil;
             c->rt.device_synchronize();
           },
           "Waits for every stream of every device (cudaDeviceSynchronize).")
      .def("stream",
           [](const runtime_obj& r, unsigned device) {
             const auto& c = r.live("Runtime.stream");
             if (device >= c->rt.devices()) {
               raise_invalid("Runtime.stream: device " + std::to_string(device) + " of " +
                             std::to_string(c->rt.devices()));
             }
             return std::make_shared<stream_obj>(c, c->rt.create_stream(device), device);
           },
           py::arg("device") = 0, "A new Stream of device `device`.")
      .def("declare",
           [](const runtime_obj& r, const py::object& reads, const py::object& writes, const py::object& read_writes,
              const py::object& stream, unsigned device) {
             const auto& c = r.live("Runtime.declare");
             auto d = std::make_shared<declaration_obj>();
             d->owner = c;
             d->set = access_set(reads, writes, read_writes, c, d->holders, "Runtime.declare");
             stream_arg(stream, c);  // checked now; used on __enter__
             d->stream = stream;
             d->device = device;
             return d;
           },
           py::kw_only(), py::arg("reads") = py::none(), py::arg("writes") = py::none(),
           py::arg("read_writes") = py::none(), py::arg("stream") = py::none(), py::arg("device") = 0,
           R"doc(A Declaration for ``with``: the arrays are resident on `device` and pinned inside the block,
for work the caller launches itself on `stream`.)doc")
      .def("device_pointer",
           [](const runtime_obj& r, const py::object& a, unsigned device) {
             const auto& c = r.live("Runtime.device_pointer");
             span_of s = array_span(a, &c, "Runtime.device_pointer");
             return reinterpret_cast<std::uintptr_t>(c->rt.device_pointer(s.ptr, device));
           },
           py::arg("a"), py::arg("device") = 0, "The device address (an int) of an array's first byte.")
      .def("stats", [](const runtime_obj& r) { return stats_dict(r.live("Runtime.stats")->rt.statistics()); },
           "The runtime's counters as a dict (umpager::stats' fields).")
      .def("device_bytes_in_use",
           [](const runtime_obj& r, unsigned device) { return r.live("Runtime.device_bytes_in_use")->rt.device_bytes_in_use(device); },
           py::arg("device") = 0, "Device memory mapped on `device` now.");
  bind_kernels(rt);
}

}  // namespace umpager::python
