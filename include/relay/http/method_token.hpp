// The method at the start of a request line, read before the HTTP parser
// sees it. llhttp knows a fixed list of methods and refuses any other
// (HPE_INVALID_METHOD), while RFC 9110 §9.1 allows any token (BAN, a
// WebDAV or in-house method): the request parser reads the token here,
// then lets llhttp parse the rest of the line with a stand-in method.
// Pure: no parser, no socket.
#pragma once

#include <cstddef>
#include <string_view>

namespace relay::http {

// Longer method tokens are refused (RFC 9112 §3: 501 for a method longer
// than any the server implements); no real method comes near it.
inline constexpr std::size_t kMaxMethodLength = 64;

struct MethodScan {
  enum class Kind {
    NeedMore,  // the bytes end inside the token: read more
    Token,     // `token` followed by SP
    NotToken,  // no token followed by SP: the request line is malformed
    TooLong,   // a token longer than kMaxMethodLength
  };
  Kind kind = Kind::NeedMore;
  // CR and LF bytes ahead of the method, which a server ignores between
  // requests (RFC 9112 §2.2); they may be dropped whatever the kind.
  std::size_t skip = 0;
  std::string_view token;  // Kind::Token: the method, without the SP
};

// `bytes`: the unparsed input where a request begins.
MethodScan scan_method(std::string_view bytes) noexcept;

}  // namespace relay::http
