// Reading the method token of a request line (method_token.hpp).
#include "relay/http/method_token.hpp"

#include "relay/http/headers.hpp"

namespace relay::http {

MethodScan scan_method(std::string_view bytes) noexcept {
  MethodScan scan;
  while (scan.skip < bytes.size() && (bytes[scan.skip] == '\r' || bytes[scan.skip] == '\n')) ++scan.skip;
  const auto rest = bytes.substr(scan.skip);
  std::size_t length = 0;
  while (length < rest.size() && is_tchar(rest[length])) ++length;
  if (length > kMaxMethodLength) {
    scan.kind = MethodScan::Kind::TooLong;
  } else if (length == rest.size()) {
    scan.kind = MethodScan::Kind::NeedMore;
  } else if (length == 0 || rest[length] != ' ') {
    scan.kind = MethodScan::Kind::NotToken;
  } else {
    scan.kind = MethodScan::Kind::Token;
    scan.token = rest.substr(0, length);
  }
  return scan;
}

}  // namespace relay::http
