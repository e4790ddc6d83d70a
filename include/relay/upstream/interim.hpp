// Where an origin's interim (1xx) responses go while the final one is
// awaited. Each arrives as its own head, in order, never merged into the
// final head (RFC 9110 §15.2: a proxy forwards them; they are never stored).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "relay/http/response.hpp"

namespace relay::upstream {

class InterimSink {
 public:
  virtual ~InterimSink() = default;
  virtual boost::asio::awaitable<void> interim(const http::ResponseHead& head) = 0;
};

}  // namespace relay::upstream
