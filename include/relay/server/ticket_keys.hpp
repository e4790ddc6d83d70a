// Session ticket keys (RFC 5077; TLS 1.3 resumption PSKs use them too):
// a small ring shared by every TLS context of the process and kept across
// reloads, so a reload does not void the tickets clients hold. New tickets
// are sealed with the newest key; a key older than the rotation interval
// is replaced on first use after that, and the two before it still open
// tickets (which are then renewed). Keys live in memory only: a restart
// ends resumption, as it should for keys nobody else may learn.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace relay::server {

class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
    std::chrono::steady_clock::time_point created;
  };

  explicit TicketKeys(std::chrono::milliseconds rotation);
  void set_rotation(std::chrono::milliseconds rotation);

  // The key to seal a new ticket with (rotating first when it is due).
  Key current();
  // The key named `name`, if still kept; `newest` says whether it is the current one.
  std::optional<Key> find(const unsigned char* name, bool& newest);

 private:
  static Key make_key();

  std::mutex mutex_;
  std::chrono::milliseconds rotation_;
  std::deque<Key> ring_;  // newest first, at most 3
};

}  // namespace relay::server
