// ExtraFieldsSink (extra_fields_sink.hpp).
#include "relay/http/extra_fields_sink.hpp"

namespace relay::http {

void ExtraFieldsSink::add(const Headers& fields) {
  for (const auto& f : fields) fields_.add(f.name, f.value);
}

boost::asio::awaitable<Result<void>> ExtraFieldsSink::write_head(
    ResponseHead head, std::optional<std::uint64_t> content_length) {
  for (const auto& f : fields_) head.headers.add(f.name, f.value);
  co_return co_await inner_.write_head(std::move(head), content_length);
}

boost::asio::awaitable<Result<void>> ExtraFieldsSink::write_simple(int status, std::string_view content_type,
                                                                   std::string_view body, Headers extra) {
  for (const auto& f : fields_) extra.add(f.name, f.value);
  co_return co_await inner_.write_simple(status, content_type, body, std::move(extra));
}

}  // namespace relay::http
