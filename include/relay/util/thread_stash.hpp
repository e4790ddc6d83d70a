// Objects a thread keeps for their buffers. Something built on every request
// (header fields, a cache key) gives its buffers here when it is dropped, and
// the next one built takes them, so the steady state allocates nothing.
// Bounded: up to N objects per thread; a giver trims what is too large to
// keep first. One stash per (T, N); use a distinct N or a tag type to keep
// unrelated users apart.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <utility>

namespace relay::util {

template <class T, std::size_t N, class Tag = void>
class ThreadStash {
 public:
  // Moves a kept object into `into`, which must hold no buffer; false when
  // the stash is empty.
  static bool take(T& into) noexcept {
    if (state.full == 0) return false;
    into = std::move(*state.slots[--state.full]);
    return true;
  }

  // Keeps from's buffers (from is left empty) unless the stash is full.
  static void give(T& from) noexcept {
    if (state.closed || state.full == N) return;
    auto*& slot = state.slots[state.full];
    if (!slot) {
      slot = new (std::nothrow) T;
      if (!slot) return;
      drainer.touch();
    }
    *slot = std::move(from);  // the slot was emptied by take: nothing freed
    ++state.full;
  }

 private:
  // Trivially destructible, so an object dropped while its thread exits
  // (after the drainer ran) finds the stash closed and frees its own
  // buffers. Each slot's T is made once and lives as long as the thread.
  struct State {
    std::array<T*, N> slots{};
    std::size_t full = 0;  // slots [0, full) hold buffers
    bool closed = false;
  };
  struct Drainer {
    // The first use of a thread_local with a destructor registers it for
    // the thread's exit; making a slot is that first use.
    void touch() const noexcept {}
    ~Drainer() {
      // Closed first: a T whose destructor gives to the stash (as a
      // recycled Target does) must not land in a slot being freed.
      state.closed = true;
      state.full = 0;
      for (auto*& slot : state.slots) {
        delete slot;
        slot = nullptr;
      }
    }
  };
  static thread_local State state;
  static thread_local Drainer drainer;
};

template <class T, std::size_t N, class Tag>
thread_local typename ThreadStash<T, N, Tag>::State ThreadStash<T, N, Tag>::state;
template <class T, std::size_t N, class Tag>
thread_local typename ThreadStash<T, N, Tag>::Drainer ThreadStash<T, N, Tag>::drainer;

}  // namespace relay::util
