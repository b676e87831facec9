// The workloads' entry points: one template per workload (streaming.hpp,
// irregular.hpp) instantiated for each executor. Compiled by nvcc when the build
// has CUDA (then the kernels run on both drivers and the UVM flavour exists),
// else by the host compiler (the simulated device only).
#include "umpager/kernels/workloads.hpp"

#include "irregular.hpp"
#include "streaming.hpp"
#include "uvm_exec.hpp"

namespace umpager::kernels::workloads {
namespace {

template <class X>
result run(kind k, const params& p, X& x) {
  UMPAGER_EXPECTS(p.data_bytes > 0 && p.tile_bytes > 0 && p.passes > 0,
                  "workloads: data_bytes, tile_bytes and passes must be positive");
  std::string error;
  switch (k) {
    case kind::triad: error = detail::triad(x, p); break;
    case kind::gups: error = detail::gups(x, p); break;
    case kind::stencil: error = detail::stencil(x, p); break;
    case kind::spmv: error = detail::spmv(x, p); break;
    case kind::matmul: error = detail::matmul(x, p); break;
    case kind::gups_table: error = detail::gups_table(x, p); break;
    case kind::bfs: error = detail::bfs(x, p); break;
    case kind::hash_probe: error = detail::hash_probe(x, p); break;
  }
  result r;
  r.seconds = x.seconds();
  r.launches = x.launches();
  r.correct = error.empty();
  r.error = error.empty() ? std::string() : std::string(name(k)) + ": " + error;
  return r;
}

}  // namespace

const char* name(kind k) noexcept {
  switch (k) {
    case kind::triad: return "triad";
    case kind::gups: return "gups";
    case kind::stencil: return "stencil";
    case kind::spmv: return "spmv";
    case kind::matmul: return "matmul";
    case kind::gups_table: return "gups_table";
    case kind::bfs: return "bfs";
    case kind::hash_probe: return "hash_probe";
  }
  return "?";
}

std::optional<kind> parse_kind(std::string_view text) noexcept {
  for (kind k : all_kinds) {
    if (text == name(k)) return k;
  }
  return std::nullopt;
}

result run_managed(kind k, const params& p, runtime& rt, stream_view s, trace* rec) {
  UMPAGER_EXPECTS(p.in_flight >= 1, "workloads: in_flight must be at least 1");
  UMPAGER_EXPECTS(!s.is_default(), "workloads::run_managed: pass a stream from runtime::create_stream()");
  UMPAGER_EXPECTS(p.sim_kernel_gbps >= 0, "workloads: sim_kernel_gbps must be >= 0");
  detail::managed_exec x(rt, s, rec, p.in_flight, p.sim_kernel_gbps);
  result r = run(k, p, x);
  r.data_bytes = x.data_bytes();
  r.kernel_seconds = x.kernel_seconds();
  return r;
}

result run_plain(kind k, const params& p, driver& d) {
  detail::plain_exec x(d);
  result r = run(k, p, x);
  r.data_bytes = x.data_bytes();
  return r;
}

bool uvm_built() noexcept {
#if defined(__CUDACC__)
  return true;
#else
  return false;
#endif
}

result run_uvm(kind k, const params& p, bool hinted, int device) {
#if defined(__CUDACC__)
  detail::uvm_exec x(hinted, device);
  result r = run(k, p, x);
  r.data_bytes = x.data_bytes();
  return r;
#else
  (void)k, (void)p, (void)hinted, (void)device;
  throw invalid_argument("workloads::run_uvm: this build has no CUDA (cudaMallocManaged needs kernels compiled by nvcc)");
#endif
}

}  // namespace umpager::kernels::workloads
