// Buffer.__dlpack__ / __dlpack_device__: the CPU view as a kDLCPU tensor, so
// numpy.from_dlpack and torch.from_dlpack take it without a copy. The structs are
// DLPack's stable ABI (v0.x, the "dltensor" capsule), written here from the spec.
#include <Python.h>

#include <cstdint>

#include "common.hpp"

namespace umpager::python {
namespace {

struct DLDevice {
  std::int32_t device_type;
  std::int32_t device_id;
};
constexpr std::int32_t kDLCPU = 1;

struct DLDataType {
  std::uint8_t code;
  std::uint8_t bits;
  std::uint16_t lanes;
};
constexpr std::uint8_t kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLComplex = 5, kDLBool = 6;

struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;
  std::uint64_t byte_offset;
};

struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};

/// What one exported tensor owns: a reference to its Buffer and its shape/strides.
struct export_ctx {
  PyObject* owner;  ///< a strong reference to the Buffer
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;
  DLManagedTensor tensor;
};

void delete_tensor(DLManagedTensor* t) {
  auto* ctx = static_cast<export_ctx*>(t->manager_ctx);
  // Consumers may call this from any thread, with or without the GIL.
  if (Py_IsInitialized() && !_Py_IsFinalizing()) {
    PyGILState_STATE st = PyGILState_Ensure();
    Py_DECREF(ctx->owner);
    PyGILState_Release(st);
  }
  delete ctx;
}

void capsule_destructor(PyObject* capsule) {
  // Still named "dltensor": never consumed, so it is ours to delete.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (t != nullptr && t->deleter != nullptr) t->deleter(t);
  }
}

DLDataType dl_type(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto bits = static_cast<std::uint8_t>(dt.itemsize() * 8);
  if (dt.attr("byteorder").cast<std::string>() == ">") raise_invalid("__dlpack__: big-endian dtypes are not DLPack");
  switch (kind) {
    case 'i': return {kDLInt, bits, 1};
    case 'u': return {kDLUInt, bits, 1};
    case 'f': return {kDLFloat, bits, 1};
    case 'c': return {kDLComplex, bits, 1};
    case 'b': return {kDLBool, bits, 1};
    default: raise_invalid("__dlpack__: dtype " + dtype_name(dt) + " has no DLPack type");
  }
}

}  // namespace

void bind_dlpack(py::class_<buffer_obj, std::shared_ptr<buffer_obj>>& cls) {
  cls.def(
      "__dlpack__",
      [](py::object self, const py::object& stream) {
        if (!stream.is_none()) {
          // The CPU view has no stream: DLPack says None (or -1) for kDLCPU.
          if (!(py::isinstance<py::int_>(stream) && stream.cast<long long>() == -1)) {
            raise_invalid("__dlpack__: the CPU view takes stream=None");
          }
        }
        auto* b = self.cast<buffer_obj*>();
        b->owner->check("Buffer.__dlpack__");
        if (!b->writable) raise_invalid("__dlpack__: a read-only array (map_file mode \"r\") has no DLPack export");
        auto* ctx = new export_ctx{};
        ctx->owner = self.release().ptr();  // the reference the deleter drops
        try {
          ctx->shape.assign(b->shape.begin(), b->shape.end());
          ctx->strides.resize(ctx->shape.size());
          std::int64_t step = 1;  // in elements, C order
          for (std::size_t i = ctx->shape.size(); i-- > 0;) {
            ctx->strides[i] = step;
            step *= ctx->shape[i];
          }
          DLTensor& t = ctx->tensor.dl_tensor;
          t.data = b->buf.data();
          t.device = {kDLCPU, 0};
          t.ndim = static_cast<std::int32_t>(ctx->shape.size());
          t.dtype = dl_type(b->dtype);
          t.shape = ctx->shape.data();
          t.strides = ctx->strides.data();
          t.byte_offset = 0;
          ctx->tensor.manager_ctx = ctx;
          ctx->tensor.deleter = delete_tensor;
          PyObject* cap = PyCapsule_New(&ctx->tensor, "dltensor", capsule_destructor);
          if (cap == nullptr) throw py::error_already_set();
          return py::reinterpret_steal<py::object>(cap);
        } catch (...) {
          Py_DECREF(ctx->owner);
          delete ctx;
          throw;
        }
      },
      py::arg("stream") = py::none(),
      "DLPack export of the CPU view (kDLCPU, zero-copy); the tensor keeps the allocation alive.");
  cls.def(
      "__dlpack_device__", [](const buffer_obj&) { return py::make_tuple(kDLCPU, 0); },
      "(kDLCPU, 0): the CPU view.");
}

}  // namespace umpager::python
