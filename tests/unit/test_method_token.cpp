// The method token read ahead of llhttp (src/http/method_token.cpp), so
// that any token method (RFC 9110 §9.1) can be forwarded.
#include <doctest/doctest.h>

#include <string>

#include "relay/http/method_token.hpp"

using namespace relay::http;
using ScanKind = MethodScan::Kind;

TEST_CASE("method token: a token followed by SP, whatever its name (RFC 9110 §9.1)") {
  for (const char* line : {"GET / HTTP/1.1\r\n", "BAN /x HTTP/1.1", "PROPFIND / ", "M-SEARCH * HTTP/1.1",
                           "get /", "X~!#$%&'*+.^_`|9 /"}) {
    CAPTURE(line);
    const auto scan = scan_method(line);
    CHECK(scan.kind == ScanKind::Token);
    CHECK(scan.skip == 0);
    CHECK(scan.token == std::string_view(line).substr(0, std::string_view(line).find(' ')));
  }
}

TEST_CASE("method token: blank lines ahead of a request are skipped (RFC 9112 §2.2)") {
  const auto scan = scan_method("\r\n\r\nBAN / HTTP/1.1");
  CHECK(scan.kind == ScanKind::Token);
  CHECK(scan.skip == 4);
  CHECK(scan.token == "BAN");
  const auto only_blank = scan_method("\r\n\n");
  CHECK(only_blank.kind == ScanKind::NeedMore);
  CHECK(only_blank.skip == 3);
}

TEST_CASE("method token: bytes ending inside the token ask for more") {
  CHECK(scan_method("").kind == ScanKind::NeedMore);
  CHECK(scan_method("PROPF").kind == ScanKind::NeedMore);
  CHECK(scan_method(std::string(kMaxMethodLength, 'A')).kind == ScanKind::NeedMore);
}

TEST_CASE("method token: no token before SP is left to the parser to refuse") {
  for (const char* line : {"B@N / HTTP/1.1", " GET /", "GARBAGE\r\n\r\n", "GET\t/", "(GET) /", "BAN\x01 /"}) {
    CAPTURE(line);
    CHECK(scan_method(line).kind == ScanKind::NotToken);
  }
}

TEST_CASE("method token: longer than kMaxMethodLength is refused, complete or not (RFC 9112 §3)") {
  CHECK(scan_method(std::string(kMaxMethodLength, 'A') + " /").kind == ScanKind::Token);
  CHECK(scan_method(std::string(kMaxMethodLength + 1, 'A')).kind == ScanKind::TooLong);
  CHECK(scan_method(std::string(kMaxMethodLength + 1, 'A') + " /").kind == ScanKind::TooLong);
}
