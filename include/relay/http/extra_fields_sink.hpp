// A ResponseSink in front of another that adds fields to whatever final
// response goes through it (the head of a streamed response, or a
// write_simple one), without the code that writes the response knowing:
// how a policy on the request path (a rate limit's RateLimit field) marks
// every answer, from the store, the origin or relay itself. The fields are
// added to what the client receives only: nothing stored carries them.
#pragma once

#include "relay/http/body.hpp"
#include "relay/http/headers.hpp"

namespace relay::http {

class ExtraFieldsSink final : public ResponseSink {
 public:
  explicit ExtraFieldsSink(ResponseSink& inner) : inner_(inner) {}

  // Appended (never replacing one of the same name) to the final head; only
  // before it is sent.
  void add(const Headers& fields);

  boost::asio::awaitable<void> interim(const ResponseHead& head) override { return inner_.interim(head); }
  boost::asio::awaitable<Result<void>> write_head(ResponseHead head,
                                                  std::optional<std::uint64_t> content_length) override;
  boost::asio::awaitable<Result<void>> write_body(std::span<const char> chunk) override {
    return inner_.write_body(chunk);
  }
  bool sends_files() const noexcept override { return inner_.sends_files(); }
  boost::asio::awaitable<Result<void>> write_file(FileRegion region) override { return inner_.write_file(region); }
  boost::asio::awaitable<Result<void>> finish() override { return inner_.finish(); }
  void abort() noexcept override { inner_.abort(); }
  boost::asio::awaitable<Result<void>> write_simple(int status, std::string_view content_type,
                                                    std::string_view body, Headers extra) override;

  // A 101 carries the fields too (the limit applied to the handshake).
  boost::asio::awaitable<Result<ByteStream*>> switch_protocols(ResponseHead head) override {
    for (const auto& field : fields_) head.headers.add(field.name, field.value);
    return inner_.switch_protocols(std::move(head));
  }
  bool can_switch_protocols() const noexcept override { return inner_.can_switch_protocols(); }

  bool head_sent() const noexcept override { return inner_.head_sent(); }
  int status() const noexcept override { return inner_.status(); }
  std::uint64_t body_bytes() const noexcept override { return inner_.body_bytes(); }

 private:
  ResponseSink& inner_;
  Headers fields_;
};

}  // namespace relay::http
