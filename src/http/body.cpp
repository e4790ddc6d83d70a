// The generic ResponseSink::write_file (body.hpp): a sink that cannot hand
// a file to the kernel reads it in slices and writes those, so a caller
// holding only a FileRegion is still answered correctly.
#include "relay/http/body.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "relay/util/result.hpp"

namespace relay::http {

boost::asio::awaitable<Result<void>> ResponseSink::write_file(FileRegion region) {
  constexpr std::size_t slice = 64 * 1024;
  std::vector<char> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(region.size, slice)));
  auto offset = static_cast<off_t>(region.offset);
  std::uint64_t left = region.size;
  while (left > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
    const ssize_t got = ::pread(region.fd, buffer.data(), want, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) co_return make_error_code(Errc::storage_unavailable);
    if (auto sent = co_await write_body(std::span<const char>(buffer.data(), static_cast<std::size_t>(got))); !sent) {
      co_return sent;
    }
    offset += got;
    left -= static_cast<std::uint64_t>(got);
  }
  co_return Result<void>{};
}

}  // namespace relay::http
