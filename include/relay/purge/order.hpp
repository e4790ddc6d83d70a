// The admin API's purge request body (POST /purge), one selector and an
// optional mode:
//   {"url": "http://www.example.com/a"}       that URL, all its variants
//   {"prefix": "http://www.example.com/static/"}
//   {"glob": "http://www.example.com/*.css"}
//   {"tag": "product-42"}
//   {"all": true}
//   ... , "soft": true                          mark stale instead of removing
// Pure: parsing and normalisation only.
#pragma once

#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/storage/purge.hpp"

namespace relay::purge {

struct Order {
  storage::PurgeSelector selector;
  storage::PurgeMode mode = storage::PurgeMode::hard;
};

struct OrderResult {
  bool ok = false;
  Order order;
  std::string error;  // for a 400 problem
};

OrderResult parse_order(std::string_view json_body, const config::Config& cfg);

}  // namespace relay::purge
