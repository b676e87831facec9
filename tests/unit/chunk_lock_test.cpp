// Chunk locks and their proofs on their own (chunk_lock.hpp): a proof names its chunk,
// a record guarded by a chunk's lock refuses another chunk's proof, and a run of chunk
// locks holds every chunk of the run until it goes.
#include <gtest/gtest.h>

#include <array>
#include <future>
#include <mutex>
#include <span>

#include "chunk_lock.hpp"
#include "region.hpp"

namespace umpager::detail {
namespace {

struct fake_chunk {
  std::mutex lock;
};

/// True if another thread can take `m` now (so nobody holds it).
bool free_elsewhere(std::mutex& m) {
  return std::async(std::launch::async, [&m] {
           if (!m.try_lock()) return false;
           m.unlock();
           return true;
         }).get();
}

TEST(chunk_lock, a_proof_names_its_chunk_and_its_mutex) {
  std::mutex a, b;
  const chunk_lock held(a, 3);
  const locked_chunk proof = held.token();
  EXPECT_EQ(proof.index(), 3u);
  EXPECT_TRUE(proof.holds(a));
  EXPECT_FALSE(proof.holds(b));
  EXPECT_FALSE(free_elsewhere(a));
  EXPECT_TRUE(free_elsewhere(b));
}

TEST(chunk_lock, a_try_lock_that_failed_gives_no_proof) {
  std::mutex m;
  const std::lock_guard other(m);
  const chunk_lock held = std::async(std::launch::async, [&m] { return chunk_lock(m, 0, std::try_to_lock); }).get();
  EXPECT_FALSE(held.owns_lock());
  EXPECT_DEATH((void)held.token(), "not held");
}

TEST(chunk_lock, a_chunks_state_refuses_another_chunks_proof) {
  std::array<region_chunk, 2> chunks;
  const chunk_lock zero(chunks[0].lock, 0);
  const fault f[] = {fault{0, false, false, 0}};
  EXPECT_FALSE(chunks[0].density(zero.token()).count(0, f));  // its own proof: reached
  EXPECT_DEATH((void)chunks[1].density(zero.token()), "chunk 0's lock");
}

TEST(chunk_run_lock, holds_every_chunk_of_the_run_and_only_those_until_it_goes) {
  std::array<fake_chunk, 5> chunks;
  {
    const chunk_run_lock held(std::span<fake_chunk>(chunks), 1, 4);
    EXPECT_EQ(held.first(), 1u);
    EXPECT_EQ(held.end(), 4u);
    EXPECT_TRUE(free_elsewhere(chunks[0].lock));
    for (std::size_t c = 1; c < 4; ++c) {
      EXPECT_FALSE(free_elsewhere(chunks[c].lock)) << c;
      const locked_chunk proof = held.token(c);
      EXPECT_EQ(proof.index(), c);
      EXPECT_TRUE(proof.holds(chunks[c].lock));
    }
    EXPECT_TRUE(free_elsewhere(chunks[4].lock));
  }
  for (fake_chunk& c : chunks) EXPECT_TRUE(free_elsewhere(c.lock));
}

TEST(chunk_run_lock, a_run_of_one_chunk_is_a_block_in_one_chunk) {
  std::array<fake_chunk, 3> chunks;
  const chunk_run_lock held(std::span<fake_chunk>(chunks), 2, 3);
  EXPECT_TRUE(held.token(2).holds(chunks[2].lock));
  EXPECT_TRUE(free_elsewhere(chunks[1].lock));
}

TEST(chunk_run_lock, gives_no_proof_of_a_chunk_outside_the_run) {
  std::array<fake_chunk, 4> chunks;
  const chunk_run_lock held(std::span<fake_chunk>(chunks), 1, 3);
  EXPECT_DEATH((void)held.token(0), "outside the run");
  EXPECT_DEATH((void)held.token(3), "outside the run");
}

TEST(chunk_run_lock, is_small_whatever_the_run) {
  // The fault path holds one of these for a block over up to 512 chunks.
  EXPECT_LE(sizeof(chunk_run_lock<fake_chunk>), 3 * sizeof(void*));
}

}  // namespace
}  // namespace umpager::detail
