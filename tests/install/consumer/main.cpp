// An outside program against an installed umpager: the C++ API, the allocator and the
// porting layer, through `find_package(umpager)` or `pkg-config umpager`.
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
  return sum == (1 << 16) && faults > 0 ? 0 : 1;
}
