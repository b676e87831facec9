// The upload time an ideal pipeline of a workload's launches could hide: what the
// overlap measurement of umpager-bench oversub compares its figure with (docs/bench.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "umpager/kernels/workloads.hpp"

namespace umpager::bench {

/// Launch i's uploads (its `uploaded` bytes at `copy_gbps`) start when launch
/// i - `depth` has finished (the workload's throttle) and the upload engine is free;
/// its kernel (its set's bytes at `kernel_gbps`) starts when its uploads and the
/// kernel before it are done. Host time and CPU phases cost nothing. Returns the
/// upload time that does not lengthen such a run: the uploads' total minus (the
/// run's end minus the kernels' total). A bound for the runtime, not a model of it.
inline double hidden_bound(const kernels::workloads::trace& t, double copy_gbps, double kernel_gbps,
                           unsigned depth) {
  std::vector<double> kernel_end;
  double upload_end = 0, copies = 0, kernels = 0;
  for (const auto& st : t.steps) {
    if (st.cpu) continue;
    std::size_t bytes = 0;
    for (const auto& u : st.uses) bytes += u.bytes;
    const double up = static_cast<double>(st.uploaded) / (copy_gbps * 1e9);
    const double k = static_cast<double>(bytes) / (kernel_gbps * 1e9);
    const std::size_t i = kernel_end.size();
    const double declared = depth > 0 && i >= depth ? kernel_end[i - depth] : 0.0;
    upload_end = std::max(declared, upload_end) + up;
    kernel_end.push_back(std::max(upload_end, i > 0 ? kernel_end[i - 1] : 0.0) + k);
    copies += up;
    kernels += k;
  }
  return kernel_end.empty() ? 0.0 : copies - (kernel_end.back() - kernels);
}

}  // namespace umpager::bench
