// The exception family: umpager.Error and subclasses that are also the built-in
// exception a Python caller would catch (ValueError, MemoryError, OSError, ...).
#include <cerrno>
#include <new>

#include "common.hpp"
#include "umpager/error.hpp"

namespace umpager::python {
namespace {

PyObject* g_error = nullptr;
PyObject* g_invalid = nullptr;
PyObject* g_oom = nullptr;
PyObject* g_system = nullptr;
PyObject* g_not_found = nullptr;
PyObject* g_unsupported = nullptr;
PyObject* g_driver = nullptr;
PyObject* g_closed = nullptr;

PyObject* make(py::module_& m, const char* name, const char* doc, std::initializer_list<PyObject*> bases) {
  py::tuple b(bases.size());
  std::size_t i = 0;
  for (PyObject* base : bases) b[i++] = py::reinterpret_borrow<py::object>(base);
  const std::string full = std::string("umpager.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(full.c_str(), doc, b.ptr(), nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;  // the module holds a reference for the interpreter's life
}

void set_os_error(PyObject* cls, int code, const char* what) {
  // OSError(errno, strerror) fills .errno and .strerror; the message is the runtime's.
  py::object e = py::reinterpret_borrow<py::object>(cls)(code, what);
  PyErr_SetObject(cls, e.ptr());
}

}  // namespace

[[noreturn]] void raise_invalid(const std::string& msg) {
  PyErr_SetString(g_invalid, msg.c_str());
  throw py::error_already_set();
}

[[noreturn]] void raise_closed(const std::string& msg) {
  PyErr_SetString(g_closed, msg.c_str());
  throw py::error_already_set();
}

void register_errors(py::module_& m) {
  g_error = make(m, "Error", "Base of every error umpager raises.", {PyExc_Exception});
  g_invalid = make(m, "InvalidArgument",
                   "Bad input: a wrong size, dtype, shape, mode or name, or an array that is not umpager memory.",
                   {g_error, PyExc_ValueError});
  g_oom = make(m, "OutOfMemory", "Device or host memory could not be provided (a set larger than the device budget).",
               {g_error, PyExc_MemoryError});
  g_system = make(m, "SystemError", "A kernel interface failed; .errno is the error code.", {g_error, PyExc_OSError});
  g_not_found = make(m, "FileNotFound", "map_file of a path that does not exist.",
                     {g_system, PyExc_FileNotFoundError});
  g_unsupported = make(m, "Unsupported", "The kernel or driver lacks a feature (the message says what to change).",
                       {g_error, PyExc_NotImplementedError});
  g_driver = make(m, "DriverError", "A device operation failed (copy error, no device).", {g_error, PyExc_RuntimeError});
  g_closed = make(m, "ClosedError", "The runtime was closed (Runtime.close()) or shut down after a failure.",
                  {g_error, PyExc_RuntimeError});

  // Throws the C++ exception `kind` names, so a test can check every translation.
  m.def(
      "_throw",
      [](const std::string& kind, const std::string& msg) {
        if (kind == "invalid_argument") throw invalid_argument(msg);
        if (kind == "out_of_memory") throw out_of_memory(msg);
        if (kind == "system_error") throw system_error(EACCES, msg);
        if (kind == "enoent") throw system_error(ENOENT, msg);
        if (kind == "unsupported") throw unsupported(msg);
        if (kind == "driver_error") throw driver_error(msg);
        if (kind == "closed_error") throw closed_error(msg);
        if (kind == "runtime_error") throw runtime_error(msg);
        if (kind == "bad_alloc") throw std::bad_alloc();
        raise_invalid("_throw: unknown kind " + kind);
      },
      "Test hook: raises the Python exception a C++ exception of `kind` becomes.");

  // Most derived first: each C++ class maps to one Python class.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const closed_error& e) {
      PyErr_SetString(g_closed, e.what());
    } catch (const out_of_memory& e) {
      PyErr_SetString(g_oom, e.what());
    } catch (const system_error& e) {
      set_os_error(e.code() == ENOENT ? g_not_found : g_system, e.code(), e.what());
    } catch (const unsupported& e) {
      PyErr_SetString(g_unsupported, e.what());
    } catch (const driver_error& e) {
      PyErr_SetString(g_driver, e.what());
    } catch (const runtime_error& e) {
      PyErr_SetString(g_error, e.what());
    } catch (const invalid_argument& e) {
      PyErr_SetString(g_invalid, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(g_oom, "out of host memory (std::bad_alloc)");
    }
  });
}

}  // namespace umpager::python
