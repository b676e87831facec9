// The stress engine's CPU workers (see stress_internal.hpp): each draws its op
// sequence for the epoch from its own seeded generator and checks every read
// against the shadow model.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stress_internal.hpp"

namespace umpager::stress::detail {

bool engine::check(unsigned w, int kind, const page_ref& r, std::size_t word, std::uint32_t got) {
  alloc_model& a = allocs_[r.alloc];
  const std::size_t i = r.page * kWords + word;
  const std::uint32_t want = a.shadow[i];
  if (got == want) return true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::uint32_t again = load(a.host + i);
  std::ostringstream m;
  m << "epoch " << epoch_.load() << " thread " << w << " op " << op_name(kind) << ": allocation " << r.alloc << " (gen "
    << a.generation << ", " << a.pages << " pages) page " << r.page << " word " << word << " (byte offset "
    << i * 4 << "): expected " << hex(want) << ", read " << hex(got) << ", re-read 1 ms later " << hex(again);
  mismatch(m.str());
  return false;
}

/// Moves n bytes through a pipe with read(2)/write(2), retrying the short or EFAULT
/// transfers a signal causes while the kernel waits on a fault in the buffer.
bool engine::transfer(participant& me, bool to_pipe, int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  std::size_t done = 0;
  int efaults = 0;
  while (done < n) {
    const ssize_t r = to_pipe ? ::write(fd, b + done, n - done) : ::read(fd, b + done, n - done);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      if (done < n) ++me.retries;
      continue;
    }
    const int e = r < 0 ? errno : 0;
    if (e == EINTR || (e == EFAULT && o_.signals && ++efaults < 100000)) {
      ++me.retries;
      continue;
    }
    fail(std::string(to_pipe ? "write(2) from" : "read(2) into") + " managed memory failed after " +
         std::to_string(done) + " of " + std::to_string(n) + " bytes: " + (r == 0 ? "EOF" : std::strerror(e)));
    return false;
  }
  return true;
}

void engine::worker_main(unsigned w) {
  workers_[w]->handle = ::pthread_self();
  for (;;) {
    sync_->arrive_and_wait();  // epoch start
    if (stop_.load()) return;
    worker_epoch(w);
    workers_done_.fetch_add(1);
    sync_->arrive_and_wait();  // epoch end
  }
}

void engine::worker_epoch(unsigned w) {
  participant& me = *workers_[w];
  std::mt19937_64 rng(derive(o_.seed, epoch_.load(), w + 1));
  const std::vector<page_ref>& own = own_[w];
  const std::vector<page_ref>& ro = ro_;
  const std::size_t n_ops = 200 + rng() % 6000;
  std::size_t cur_own = rng(), cur_ro = rng();
  std::uint32_t local[kWords];

  auto pick = [&](const std::vector<page_ref>& v, std::size_t& cur) -> const page_ref& {
    if (rng() % 2 == 0) cur = rng() % v.size();
    else cur = (cur + 1) % v.size();  // walk on: neighbours share a block
    return v[cur];
  };
  auto pick_readable = [&]() -> const page_ref* {
    if (!own.empty() && (ro.empty() || rng() % 2 == 0)) return &pick(own, cur_own);
    if (!ro.empty()) return &pick(ro, cur_ro);
    return nullptr;
  };

  std::int64_t t0 = now_ns();
  me.last_ns.store(t0, std::memory_order_relaxed);
  me.active.store(true);
  for (std::size_t op = 0; op < n_ops && !end_epoch_.load(std::memory_order_relaxed); ++op) {
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    int kind;
    if (dice < 40) kind = k_read;
    else if (dice < 50) kind = k_read_run;
    else if (dice < 72) kind = k_write;
    else if (dice < 78) kind = k_write_run;
    else if (dice < 92) kind = k_locked;
    else if (dice < 96) kind = k_sys_out;
    else kind = k_sys_in;
    if ((kind == k_write || kind == k_write_run || kind == k_sys_in) && own.empty()) kind = k_read;
    if (kind == k_locked && locked_.empty()) kind = k_read;
    if ((kind == k_sys_out || kind == k_sys_in) && !o_.syscalls) kind = k_read;
    me.kind.store(kind, std::memory_order_relaxed);

    switch (kind) {
      case k_read: {
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t word = rng() % kWords;
        check(w, kind, *r, word, load(allocs_[r->alloc].host + r->page * kWords + word));
        ++me.reads;
        ++me.words;
        break;
      }
      case k_read_run: {
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const std::uint32_t* base = allocs_[r->alloc].host + r->page * kWords;
        for (std::size_t x = w0; x < w0 + n; ++x) {
          if (!check(w, kind, *r, x, load(base + x))) break;
        }
        ++me.reads;
        me.words += n;
        break;
      }
      case k_write: {
        const page_ref& r = pick(own, cur_own);
        const std::size_t word = rng() % kWords;
        const auto v = static_cast<std::uint32_t>(rng());
        alloc_model& a = allocs_[r.alloc];
        store(a.host + r.page * kWords + word, v);
        a.shadow[r.page * kWords + word] = v;
        if (rng() % 4 == 0) {  // read it back at once
          check(w, kind, r, word, load(a.host + r.page * kWords + word));
          ++me.words;
        }
        ++me.writes;
        break;
      }
      case k_write_run: {
        const page_ref& r = pick(own, cur_own);
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const auto v = static_cast<std::uint32_t>(rng());
        alloc_model& a = allocs_[r.alloc];
        for (std::size_t x = w0; x < w0 + n; ++x) {
          store(a.host + r.page * kWords + x, v + static_cast<std::uint32_t>(x));
          a.shadow[r.page * kWords + x] = v + static_cast<std::uint32_t>(x);
        }
        ++me.writes;
        break;
      }
      case k_locked: {
        locked_slot& s = *locked_[rng() % locked_.size()];
        alloc_model& a = allocs_[s.ref.alloc];
        std::uint32_t* page = a.host + s.ref.page * kWords;
        std::uint32_t* sh = a.shadow.data() + s.ref.page * kWords;
        std::lock_guard g(s.m);
        check(w, kind, s.ref, 0, load(page));
        check(w, kind, s.ref, kWords - 1, load(page + kWords - 1));
        ++sh[0];
        ++sh[kWords - 1];
        store(page, sh[0]);
        store(page + kWords - 1, sh[kWords - 1]);
        ++s.increments;
        ++me.locked;
        me.words += 2;
        break;
      }
      case k_sys_out: {  // write(2) from managed memory, compare what came through
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        std::uint32_t* src = allocs_[r->alloc].host + r->page * kWords + w0;
        if (transfer(me, true, me.pipe_fd[1], src, n * 4) && transfer(me, false, me.pipe_fd[0], local, n * 4)) {
          for (std::size_t x = 0; x < n; ++x) {
            if (!check(w, kind, *r, w0 + x, local[x])) break;
          }
        }
        ++me.syscalls;
        me.words += n;
        break;
      }
      case k_sys_in: {  // read(2) into managed memory
        const page_ref& r = pick(own, cur_own);
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const auto v = static_cast<std::uint32_t>(rng());
        for (std::size_t x = 0; x < n; ++x) local[x] = v ^ static_cast<std::uint32_t>(x * 0x9E3779B1u);
        alloc_model& a = allocs_[r.alloc];
        if (transfer(me, true, me.pipe_fd[1], local, n * 4) &&
            transfer(me, false, me.pipe_fd[0], a.host + r.page * kWords + w0, n * 4)) {
          for (std::size_t x = 0; x < n; ++x) a.shadow[r.page * kWords + w0 + x] = local[x];
        }
        ++me.syscalls;
        break;
      }
      default:
        break;
    }
    const std::int64_t t1 = now_ns();
    const auto ns = static_cast<std::uint64_t>(t1 - t0);
    if (ns > me.max_ns) me.max_ns = ns;
    if (ns > static_cast<std::uint64_t>(kSlowNs)) ++me.slow;
    me.last_ns.store(t1, std::memory_order_relaxed);
    t0 = t1;
  }
  me.active.store(false);
  me.kind.store(k_idle, std::memory_order_relaxed);
}

}  // namespace umpager::stress::detail
