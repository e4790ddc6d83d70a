// A body that continues from the origin when its first source stops midway:
// another instance's fill that died (peer_fill.cpp), or a stored body whose
// chunk an evicting Redis dropped while it was being sent (deliver.cpp).
// The rest is asked for with "Range: bytes=<received>-" and If-Range on the
// representation's strong validator, so only the very same bytes continue
// the ones already sent; an origin that sends the whole body instead has
// the part already sent skipped.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "relay/http/body.hpp"
#include "relay/upstream/transfer.hpp"

namespace relay::proxy {

class ResumingSource final : public http::BodySource {
 public:
  // Starts the origin request for the body from `offset` on.
  using OpenRest =
      std::function<boost::asio::awaitable<Result<std::unique_ptr<upstream::Transfer>>>(std::uint64_t offset)>;

  // `first_offset`: the body position of first's first byte; `size`: the
  // whole body's, when known (all of it received means no resumption).
  ResumingSource(http::BodySource& first, std::uint64_t first_offset, std::optional<std::uint64_t> size,
                 std::string validator, OpenRest open_rest, std::string target)
      : first_(first),
        size_(size),
        validator_(std::move(validator)),
        open_rest_(std::move(open_rest)),
        target_(std::move(target)),
        received_(first_offset) {}

  boost::asio::awaitable<Result<std::span<const char>>> read() override;
  bool resumed() const noexcept { return origin_ != nullptr; }

 private:
  boost::asio::awaitable<Result<std::span<const char>>> read_origin();

  http::BodySource& first_;
  const std::optional<std::uint64_t> size_;
  const std::string validator_;
  const OpenRest open_rest_;
  const std::string target_;
  std::uint64_t received_;
  std::uint64_t skip_ = 0;
  std::unique_ptr<upstream::Transfer> origin_;
};

}  // namespace relay::proxy
