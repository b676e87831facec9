// `umpager-bench mapfile`: a file read through runtime::map_file (the storage tier)
// beside mmap(2) of the same file, both with a cold page cache (posix_fadvise
// DONTNEED first), in the same page order, median of --repeat runs each. A third pass
// touches a fresh view of a memfd that already holds the data: what faulting 4 KiB shmem
// pages in costs here with no I/O and no copy (a reference, not a bound: map_file's
// resolvers map pages ahead of the scan, and at idle it scanned faster than this).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli.hpp"
#include "os/fd.hpp"
#include "os/memfd.hpp"
#include "scan.hpp"
#include "touch.hpp"
#include "umpager/runtime.hpp"

namespace umpager::bench {
namespace {

constexpr const char* kCommand = "mapfile";
constexpr const char* kUsage = R"(usage: umpager-bench mapfile [options]

A file read by the CPU through umpager's map_file (read_only) and through mmap(2),
each with a cold page cache (posix_fadvise(DONTNEED) before every run), one
64-bit word per 4 KiB page in the same order; median of --repeat runs each.
memfd_gbps: the same touches of a fresh mapping of a memfd already holding the
file (no I/O, no copy; page faults map it): a reference for the cost of mapping.

options:
  --size N       file size, K/M/G suffixes, a multiple of --block (256M)
  --pattern P    seq | random: page order (seq)
  --block N      umpager fault block (read-ahead unit): 4K..2M, power of two (64K)
  --dir D        where the file is made ($TMPDIR, else /var/tmp)
  --repeat N     runs of each, 1..99 (3)
  --format F     table | json (table)
  --seed N       seed of the order and the data (1)
  --help         this text

environment: UMPAGER_* variables configure the runtime.
exit status: 0 ok, 1 runtime failure or wrong data read, 2 bad usage.
)";

struct options {
  std::size_t size = std::size_t{256} << 20;
  std::size_t block = std::size_t{64} << 10;
  pattern order = pattern::seq;
  std::string dir;
  unsigned repeat = 3;
  bool json = false;
  std::uint64_t seed = 1;
};

options parse(int argc, char** argv) {
  static constexpr std::string_view kFlags[] = {"--help"};
  static constexpr std::string_view kValued[] = {"--size", "--pattern", "--block", "--dir", "--repeat", "--format", "--seed"};
  options o;
  for (const cli::option& op : cli::read_options(std::span<char*>(argv, static_cast<std::size_t>(argc)), kFlags, kValued,
                                                 kCommand)) {
    if (op.key == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (op.key == "--size") {
      o.size = cli::parse_size(op.value, "--size", kCommand);
    } else if (op.key == "--block") {
      o.block = cli::parse_size(op.value, "--block", kCommand);
    } else if (op.key == "--pattern") {
      o.order = cli::parse_enum<pattern>(op.value, "--pattern", {{"seq", pattern::seq}, {"random", pattern::random}}, kCommand);
    } else if (op.key == "--dir") {
      o.dir = op.value;
    } else if (op.key == "--repeat") {
      o.repeat = static_cast<unsigned>(cli::parse_count(op.value, "--repeat", kCommand));
      if (o.repeat < 1 || o.repeat > 99) cli::usage_error("--repeat: 1..99", kCommand);
    } else if (op.key == "--format") {
      o.json = cli::parse_enum<bool>(op.value, "--format", {{"table", false}, {"json", true}}, kCommand);
    } else if (op.key == "--seed") {
      o.seed = cli::parse_count(op.value, "--seed", kCommand);
    }
  }
  if (o.block < 4096 || o.block > (std::size_t{2} << 20) || (o.block & (o.block - 1)) != 0) {
    cli::usage_error("--block: a power of two from 4K to 2M", kCommand);
  }
  if (o.size == 0 || o.size % o.block != 0) cli::usage_error("--size: a positive multiple of --block", kCommand);
  if (o.dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    o.dir = t != nullptr && *t != '\0' ? t : "/var/tmp";
  }
  return o;
}

/// The data file: made, filled with the pattern, synced; removed at the end.
class data_file {
 public:
  data_file(const options& o) : path_(o.dir + "/umpager-bench-mapfile-XXXXXX") {
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) throw runtime_error("mapfile: cannot create a file in " + o.dir);
    std::vector<std::byte> buf(std::size_t{16} << 20);
    bool ok = true;
    for (std::size_t off = 0; off < o.size && ok; off += buf.size()) {
      const std::size_t n = std::min(buf.size(), o.size - off);
      // The pattern's page numbers are the file's: fill each piece at its offset.
      for (std::size_t p = 0; p < n / page_bytes; ++p) {
        const std::uint64_t v = page_value(off / page_bytes + p, o.seed);
        std::memcpy(buf.data() + p * page_bytes, &v, sizeof v);
      }
      ok = ::pwrite(fd, buf.data(), n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path_.c_str());
      throw runtime_error("mapfile: cannot write " + path_);
    }
  }
  ~data_file() { ::unlink(path_.c_str()); }
  data_file(const data_file&) = delete;
  data_file& operator=(const data_file&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  /// Drops the file's pages from the page cache (a cold start).
  void drop_cache() const {
    const int fd = ::open(path_.c_str(), O_RDONLY);
    if (fd >= 0) {
      (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }

 private:
  std::string path_;
};

void check(std::uint64_t got, std::uint64_t want, const char* who) {
  if (got != want) throw data_error(std::string("mapfile: ") + who + " read wrong data");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int mapfile_main(int argc, char** argv) {
  const options o = parse(argc, argv);
  return run_reporting([&] {
    const data_file f(o);
    const touch_plan plan(o.size, o.block, o.order, 1, o.seed);
    const std::uint64_t want = expected_sum(plan.pages(), o.seed);
    std::vector<double> um, mm, mf;
    // The file's bytes in a memfd (not timed), for the memfd pass.
    const os::unique_fd mfd = os::make_memfd("umpager-bench-mapfile", o.size);
    {
      const os::unique_fd src(::open(f.path().c_str(), O_RDONLY | O_CLOEXEC));
      off_t at = 0;
      bool ok = static_cast<bool>(src);
      while (ok && static_cast<std::size_t>(at) < o.size) {
        ok = ::sendfile(mfd.get(), src.get(), &at, o.size - static_cast<std::size_t>(at)) > 0;
      }
      if (!ok) throw runtime_error("mapfile: cannot copy the file into a memfd");
    }
    runtime rt(config::from_env());
    for (unsigned r = 0; r < o.repeat; ++r) {
      // Alternating, so drift on a loaded machine hits both alike.
      f.drop_cache();
      {
        buffer b = rt.map_file(f.path(), file_access::read_only, o.block);
        const touch_result t = touch_pass(b.as<std::byte>(), plan, access::read);
        check(t.sum, want, "map_file");
        um.push_back(static_cast<double>(o.size) / t.seconds / 1e9);
      }
      f.drop_cache();
      {
        const int fd = ::open(f.path().c_str(), O_RDONLY);
        void* p = ::mmap(nullptr, o.size, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) throw runtime_error("mapfile: mmap failed");
        const touch_result t = touch_pass(static_cast<std::byte*>(p), plan, access::read);
        ::munmap(p, o.size);
        check(t.sum, want, "mmap");
        mm.push_back(static_cast<double>(o.size) / t.seconds / 1e9);
      }
      {
        void* p = ::mmap(nullptr, o.size, PROT_READ, MAP_SHARED, mfd.get(), 0);
        if (p == MAP_FAILED) throw runtime_error("mapfile: mmap of the memfd failed");
        const touch_result t = touch_pass(static_cast<std::byte*>(p), plan, access::read);
        ::munmap(p, o.size);
        check(t.sum, want, "memfd");
        mf.push_back(static_cast<double>(o.size) / t.seconds / 1e9);
      }
    }
    const double g = median(um), m = median(mm), fm = median(mf);
    const char* order = o.order == pattern::seq ? "seq" : "random";
    if (o.json) {
      std::printf("{\"command\":\"mapfile\",\"size\":%zu,\"block\":%zu,\"pattern\":\"%s\",\"repeat\":%u,\"gbps\":%s,"
                  "\"mmap_gbps\":%s,\"memfd_gbps\":%s,\"ratio\":%s}\n",
                  o.size, o.block, order, o.repeat, cli::json_number(g).c_str(), cli::json_number(m).c_str(),
                  cli::json_number(fm).c_str(), cli::json_number(g / m).c_str());
    } else {
      std::printf("mapfile: %zu MiB, %s, block %zu KiB, median of %u, cold page cache\n", o.size >> 20, order,
                  o.block >> 10, o.repeat);
      std::printf("  map_file   %8.3f GB/s\n  mmap       %8.3f GB/s\n  memfd      %8.3f GB/s (resident, fresh view)\n"
                  "  gbps / mmap_gbps %.2f\n",
                  g, m, fm, g / m);
    }
  });
}

}  // namespace umpager::bench
