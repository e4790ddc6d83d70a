// A Storage decorator that counts every operation by backend, operation and
// result, times it, and counts errors by reason — so no backend carries
// metrics code, and a degraded store (Redis away, disk full) is visible.
#pragma once

#include <memory>

#include "relay/storage/storage.hpp"

namespace relay::metrics {

class Metrics;

std::shared_ptr<storage::Storage> instrument(std::shared_ptr<storage::Storage> inner, Metrics& metrics);

}  // namespace relay::metrics
