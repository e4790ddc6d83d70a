// Response head parsing and chunked decoding for raw origin connections
// (see response_head.hpp). Strict where leniency would let a response be
// read two ways (RFC 9112 §11.1 response splitting): bad lines are errors.
#include "relay/upstream/response_head.hpp"

#include <charconv>

#include "relay/http/headers.hpp"

namespace relay::upstream {

std::size_t find_head_end(std::string_view bytes) {
  auto at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? at : at + 4;
}

std::optional<http::ResponseHead> parse_response_head(std::string_view head) {
  http::ResponseHead out;
  auto line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return std::nullopt;
  auto status_line = head.substr(0, line_end);
  // "HTTP/1.x NNN reason"
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ') return std::nullopt;
  auto code = status_line.substr(9, 3);
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + 3, out.status);
  if (ec != std::errc{} || ptr != code.data() + 3 || out.status < 100) return std::nullopt;
  if (status_line.size() > 12 && status_line[12] != ' ') return std::nullopt;
  out.reason = std::string(http::trim(status_line.substr(12)));

  auto rest = head.substr(line_end + 2);
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    if (end == std::string_view::npos) return std::nullopt;
    auto line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return std::nullopt;  // obs-fold
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    auto name = line.substr(0, colon);
    for (char c : name)
      if (!http::is_tchar(c)) return std::nullopt;
    out.headers.add(std::string(name), std::string(http::trim(line.substr(colon + 1))));
  }
  return out;
}

BodyFraming body_framing(const http::ResponseHead& head, std::string_view method) {
  // RFC 9112 §6.3 rules 1-2: no body whatever the fields say.
  if (method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304) return {};
  if (auto coding = head.headers.get_combined("transfer-encoding")) {
    // Rule 4: chunked must come last; any other coding relay cannot frame.
    auto codings = http::trim(*coding);
    auto last = codings.rfind(',');
    auto final_coding = http::trim(last == std::string_view::npos ? codings : codings.substr(last + 1));
    if (!http::iequals(final_coding, "chunked") || last != std::string_view::npos)
      return {BodyFraming::Unsupported, 0};
    return {BodyFraming::Chunked, 0};
  }
  if (head.headers.contains("content-length")) {
    auto length = http::content_length(head.headers);
    if (!length) return {BodyFraming::Unsupported, 0};
    return {BodyFraming::Length, *length};
  }
  return {BodyFraming::UntilClose, 0};
}

std::optional<std::size_t> ChunkedDecoder::feed(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::Done) {
    char c = in[i];
    switch (state_) {
      case State::Size: {
        int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (digit >= 0) {
          if (++size_digits_ > 15) return std::nullopt;  // no chunk beyond 2^60
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(digit);
          ++i;
          break;
        }
        if (size_digits_ == 0) return std::nullopt;
        if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::Extension;
        } else if (c == '\r') {
          state_ = State::SizeLf;
        } else {
          return std::nullopt;
        }
        ++i;
        break;
      }
      case State::Extension:
        if (c == '\r') state_ = State::SizeLf;
        else if (c == '\n') return std::nullopt;
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return std::nullopt;
        ++i;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::TrailerStart : State::Data;
        break;
      case State::Data: {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
        out.append(in.data() + i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c != '\r') return std::nullopt;
        ++i;
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (c != '\n') return std::nullopt;
        ++i;
        state_ = State::Size;
        break;
      case State::TrailerStart:
        ++i;
        state_ = c == '\r' ? State::TrailerLf : State::TrailerLine;
        if (c == '\n') return std::nullopt;
        break;
      case State::TrailerLine:
        ++i;
        if (c == '\n') state_ = State::TrailerStart;
        break;
      case State::TrailerLf:
        if (c != '\n') return std::nullopt;
        ++i;
        state_ = State::Done;
        break;
      case State::Done:
        break;
    }
  }
  return i;
}

}  // namespace relay::upstream
