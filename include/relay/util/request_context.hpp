// The request a diagnostic log line belongs to. Coroutines of many
// connections interleave on one thread, so a thread_local set once per
// request would be wrong after the first co_await. Instead a connection's
// coroutine runs on a ContextExecutor: every resumption of it goes through
// execute(), which sets the thread's current context for exactly the time
// that code runs and restores the previous one after. log::write prefixes
// lines with it. Work spawned elsewhere (background revalidation, curl
// callbacks on the bare loop) carries no context, which is correct: it
// serves no client.
#pragma once

#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace relay {

struct RequestContext {
  std::string id;      // the request's X-Request-ID; empty between requests
  std::string client;  // the client's address
};

// The context of the code running on this thread, or nullptr.
const RequestContext* current_request() noexcept;

// Makes `context` current until destroyed (scopes nest).
class RequestScope {
 public:
  explicit RequestScope(const RequestContext* context) noexcept;
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  const RequestContext* previous_;
};

// An executor that runs everything under one RequestContext.
template <class Inner>
class ContextExecutor {
 public:
  ContextExecutor(Inner inner, std::shared_ptr<const RequestContext> context)
      : inner_(std::move(inner)), context_(std::move(context)) {}

  template <class F>
  void execute(F&& f) const {
    inner_.execute([context = context_, f = std::forward<F>(f)]() mutable {
      RequestScope scope(context.get());
      std::move(f)();
    });
  }

  template <class Property>
  auto query(const Property& p) const -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(inner_, p);
  }

  template <class Property>
  auto require(const Property& p) const
      -> ContextExecutor<std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(inner_, p), context_};
  }

  template <class Property>
  auto prefer(const Property& p) const
      -> ContextExecutor<std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(inner_, p), context_};
  }

  friend bool operator==(const ContextExecutor& a, const ContextExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.context_ == b.context_;
  }
  friend bool operator!=(const ContextExecutor& a, const ContextExecutor& b) noexcept { return !(a == b); }

 private:
  Inner inner_;
  std::shared_ptr<const RequestContext> context_;
};

}  // namespace relay
