// Builds the configured storage backend.
#pragma once

#include <memory>

#include "relay/config/config.hpp"
#include "relay/storage/storage.hpp"

namespace relay::storage {

std::shared_ptr<Storage> make_storage(const config::Config& cfg);

}  // namespace relay::storage
