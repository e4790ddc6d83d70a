// Private to redis/: the purge bus's message (purge_bus.hpp), one pub/sub
// payload per purge. Pure: no connection, no Asio.
//
// Format, version 1, one header line then the selector's value verbatim:
//   "relay-purge 1 <instance id> <kind> <mode> <at>\n<value>"
// instance id: the sender's, [0-9a-f]+ (an instance skips its own);
// kind: url|prefix|glob|tag|all; mode: hard|soft; at: ms since the Unix
// epoch. The value is last and unescaped, so it may hold anything. A reader
// ignores what it cannot parse, another version included: a newer sender
// bumps the number, an older reader then logs and skips its messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/storage/purge.hpp"

namespace relay::storage::redis {

struct PurgeMessage {
  std::string instance;
  PurgeRequest request;  // scope: as the receiver will apply it, this_instance
};

std::string encode_purge(std::string_view instance, const PurgeRequest& request);
std::optional<PurgeMessage> decode_purge(std::string_view payload);

}  // namespace relay::storage::redis
