// The thread's current request context (see request_context.hpp).
#include "relay/util/request_context.hpp"

namespace relay {
namespace {
thread_local const RequestContext* current = nullptr;
}

const RequestContext* current_request() noexcept {
  return current;
}

RequestScope::RequestScope(const RequestContext* context) noexcept : previous_(current) {
  current = context;
}

RequestScope::~RequestScope() {
  current = previous_;
}

}  // namespace relay
