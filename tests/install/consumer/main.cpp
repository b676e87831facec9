// An outside program against an installed umpager: the C++ API, the allocator and the
// porting layer, through `find_package(umpager)` or `pkg-config umpager`. Built as C++17.
#include <umpager/allocator.hpp>
#include <umpager/runtime.hpp>
#include <umpager/uvm.h>

#include <cstdio>
#include <numeric>
#include <vector>

int main() {
  std::vector<int, umpager::allocator<int>> v(1 << 16, 1);  // on the default runtime
  umpager::runtime& rt = umpager::default_runtime();
  rt.prefetch(v.data(), v.size() * sizeof(int), umpager::location::device);
  // A declared launch (the set as a std::vector, viewed as umpager::span) and an
  // accessor: a kernel on the simulated device adds 1 to every element.
  const std::size_t bytes = v.size() * sizeof(int);
  umpager::stream s = rt.create_stream();
  const std::vector<umpager::access> set{{v.data(), bytes, umpager::access_mode::read_write}};
  int* d = static_cast<int*>(rt.device_pointer(v.data()));
  const std::size_t n = v.size();
  rt.launch([d, n] { for (std::size_t i = 0; i < n; ++i) d[i] += 1; }, s, set);
  umpager::device_span<int> at = rt.reach(v.data(), n);
  rt.launch([at] { at[0] -= 1; }, s);
  s.synchronize();
  const long sum = std::accumulate(v.begin(), v.end(), 0L);  // faults the pages back
  try {
    int foreign = 0;
    rt.free(&foreign);
    return 1;
  } catch (const umpager::invalid_argument&) {  // the library's exceptions reach the program
  }
  void* p = nullptr;
  if (umpagerMallocManaged(&p, 4096) != umpagerSuccess || umpagerFree(p) != umpagerSuccess) return 1;
  const auto faults = rt.statistics().read_faults;
  std::printf("consumer ok: sum=%ld read_faults=%llu\n", sum, static_cast<unsigned long long>(faults));
  return sum == 2 * (1 << 16) - 1 && faults > 0 ? 0 : 1;
}
