// A response head: status line and fields. Bodies stream separately.
#pragma once

#include <string>

#include "relay/http/headers.hpp"

namespace relay::http {

struct ResponseHead {
  int status = 200;
  std::string reason;
  Headers headers;
};

// The standard reason phrase for a status code ("" when unknown).
std::string_view reason_phrase(int status) noexcept;

}  // namespace relay::http
