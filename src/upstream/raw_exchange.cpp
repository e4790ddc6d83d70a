// See raw_exchange.hpp. Every wait on the origin races a timer, so a
// silent origin costs at most the configured timeout.
#include "relay/upstream/raw_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace relay::upstream {

namespace asio = boost::asio;

RawExchange::RawExchange(std::unique_ptr<http::ByteStream> stream, const config::UpstreamConfig& cfg)
    : stream_(std::move(stream)), cfg_(cfg) {}

asio::awaitable<Result<void>> RawExchange::send(std::string_view head) {
  co_return co_await stream_->write_all(std::span(head.data(), head.size()));
}

asio::awaitable<Result<std::size_t>> RawExchange::fill(config::Duration timeout, Errc on_timeout) {
  using namespace asio::experimental::awaitable_operators;
  char room[chunk];
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto got = co_await (stream_->read_some(std::span(room, sizeof room)) ||
                       timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (got.index() == 1) co_return make_error_code(on_timeout);
  auto& read = std::get<0>(got);
  if (read && *read > 0) buffer_.append(room, *read);
  co_return read;
}

asio::awaitable<Result<http::ResponseHead>> RawExchange::read_head(std::string_view method) {
  for (;;) {
    auto end = find_head_end(buffer_);
    if (end == std::string::npos) {
      if (buffer_.size() > max_head) co_return make_error_code(Errc::upstream_protocol);
      auto got = co_await fill(cfg_.first_byte_timeout, Errc::upstream_first_byte_timeout);
      if (!got) co_return got.error();
      if (*got == 0) co_return make_error_code(Errc::upstream_reset);
      continue;
    }
    auto head = parse_response_head(std::string_view(buffer_).substr(0, end));
    buffer_.erase(0, end);
    if (!head) co_return make_error_code(Errc::upstream_protocol);
    // RFC 9110 §15.2: interim answers before the final one (100, 103).
    if (head->status >= 100 && head->status < 200 && head->status != 101) continue;
    framing_ = head->status == 101 ? BodyFraming{} : body_framing(*head, method);
    body_left_ = framing_.length;
    co_return std::move(*head);
  }
}

std::optional<std::uint64_t> RawExchange::body_length() const noexcept {
  if (framing_.kind == BodyFraming::None) return 0;
  if (framing_.kind == BodyFraming::Length) return framing_.length;
  return std::nullopt;
}

asio::awaitable<Result<std::span<const char>>> RawExchange::read() {
  decoded_.clear();
  while (decoded_.empty() && !body_done_) {
    switch (framing_.kind) {
      case BodyFraming::None:
        body_done_ = true;
        break;
      case BodyFraming::Unsupported:
        co_return make_error_code(Errc::upstream_transfer_coding);
      case BodyFraming::Length: {
        if (body_left_ == 0) {
          body_done_ = true;
          break;
        }
        if (buffer_.empty()) {
          auto got = co_await fill(cfg_.idle_timeout, Errc::upstream_idle_timeout);
          if (!got) co_return got.error();
          if (*got == 0) co_return make_error_code(Errc::upstream_reset);  // cut short
        }
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, buffer_.size()));
        decoded_.assign(buffer_, 0, n);
        buffer_.erase(0, n);
        body_left_ -= n;
        break;
      }
      case BodyFraming::Chunked: {
        if (buffer_.empty()) {
          auto got = co_await fill(cfg_.idle_timeout, Errc::upstream_idle_timeout);
          if (!got) co_return got.error();
          if (*got == 0) co_return make_error_code(Errc::upstream_reset);
        }
        auto used = chunked_.feed(buffer_, decoded_);
        if (!used) co_return make_error_code(Errc::upstream_protocol);
        buffer_.erase(0, *used);
        body_done_ = chunked_.done();
        break;
      }
      case BodyFraming::UntilClose: {
        if (buffer_.empty()) {
          auto got = co_await fill(cfg_.idle_timeout, Errc::upstream_idle_timeout);
          if (!got) co_return got.error();
          if (*got == 0) {
            body_done_ = true;
            break;
          }
        }
        decoded_.swap(buffer_);
        break;
      }
    }
  }
  co_return std::span<const char>(decoded_.data(), decoded_.size());
}

std::string RawExchange::take_buffered() { return std::exchange(buffer_, {}); }

}  // namespace relay::upstream
