// Session ticket key ring (ticket_keys.hpp). Keys come from OpenSSL's
// CSPRNG; a failure there is fatal for a key, so it throws.
#include "relay/server/ticket_keys.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace relay::server {

namespace {
constexpr std::size_t kept_keys = 3;  // the current one and two it replaced
}

TicketKeys::TicketKeys(std::chrono::milliseconds rotation) : rotation_(rotation) {}

void TicketKeys::set_rotation(std::chrono::milliseconds rotation) {
  std::lock_guard lock(mutex_);
  rotation_ = rotation;
}

TicketKeys::Key TicketKeys::make_key() {
  Key key;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) != 1 ||
      RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) != 1)
    throw std::runtime_error("cannot make a session ticket key: no random bytes");
  key.created = std::chrono::steady_clock::now();
  return key;
}

TicketKeys::Key TicketKeys::current() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (ring_.empty() || now - ring_.front().created >= rotation_) {
    ring_.push_front(make_key());
    if (ring_.size() > kept_keys) ring_.pop_back();
  }
  return ring_.front();
}

std::optional<TicketKeys::Key> TicketKeys::find(const unsigned char* name, bool& newest) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    if (std::memcmp(ring_[i].name.data(), name, ring_[i].name.size()) != 0) continue;
    newest = i == 0 && std::chrono::steady_clock::now() - ring_[i].created < rotation_;
    return ring_[i];
  }
  return std::nullopt;
}

}  // namespace relay::server
