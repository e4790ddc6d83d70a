// Coroutine frames from a per-thread pool, for classes whose coroutines run
// on every request. Asio recycles a thread's freed frames only up to 1020
// bytes, and each larger frame also evicts a smaller cached one on its way to
// malloc; the request path's frames are 1-3 KiB (GCC keeps every local and
// awaiter of a coroutine in its frame), so each hit paid a dozen mallocs.
//
// A class opts in with a member
//   using coroutine_frames = relay::util::PooledFrames;
// and every asio::awaitable member coroutine of it gets PooledFrame as its
// promise: Asio's own promise, with operator new/delete from block_pool. (A
// member, not a trait specialised after the class: coroutines defined in the
// class body would see the trait before its specialisation.)
#pragma once

#include <boost/asio/awaitable.hpp>
#include <coroutine>
#include <cstddef>
#include <type_traits>

#include "relay/util/block_pool.hpp"

namespace relay::util {

struct PooledFrames {};

template <typename T>
concept PoolsCoroutineFrames = std::is_same_v<typename T::coroutine_frames, PooledFrames>;

// Asio's promise, unchanged but for where its frame lives. It adds no data
// member, so a handle taken from the promise as its base type (as Asio's
// get_return_object does) addresses the same frame.
template <typename T, typename Executor>
class PooledFrame final : public boost::asio::detail::awaitable_frame<T, Executor> {
  using Base = boost::asio::detail::awaitable_frame<T, Executor>;

 public:
  static void* operator new(std::size_t size) { return block_pool::allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { block_pool::deallocate(frame, size); }

  // awaitable::await_suspend takes the handle of an Asio promise: awaiting
  // another awaitable hands it this frame under its base type.
  template <typename U>
  struct Awaiting {
    boost::asio::awaitable<U, Executor> inner;
    bool await_ready() const noexcept { return inner.await_ready(); }
    void await_suspend(std::coroutine_handle<PooledFrame> self) {
      inner.await_suspend(std::coroutine_handle<Base>::from_promise(self.promise()));
    }
    U await_resume() { return inner.await_resume(); }
  };

  using Base::await_transform;
  template <typename U>
  auto await_transform(boost::asio::awaitable<U, Executor> awaited) const {
    return Awaiting<U>{Base::await_transform(std::move(awaited))};
  }
};

}  // namespace relay::util

// A member coroutine's first coroutine_traits argument is its object: this
// partial specialisation is more specialised than Asio's, so it wins only for
// the classes that opted in.
template <typename T, typename Executor, typename Self, typename... Args>
  requires relay::util::PoolsCoroutineFrames<std::remove_cvref_t<Self>>
struct std::coroutine_traits<boost::asio::awaitable<T, Executor>, Self, Args...> {
  using promise_type = relay::util::PooledFrame<T, Executor>;
};
