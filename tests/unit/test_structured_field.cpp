// RFC 8941 Dictionary parsing: the examples of the RFC, every bare item
// type, parameters, inner lists, and the inputs a strict parser must reject.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "relay/cache/structured_field.hpp"

namespace sf = relay::cache::sf;

namespace {

// The single member `key` of a dictionary that must parse.
const sf::Member& member(const sf::Dictionary& d, const std::string& key) {
  for (const auto& [k, m] : d) {
    if (k == key) return m;
  }
  FAIL("no member ", key);
  static const sf::Member none{};
  return none;
}

const sf::Item& item(const sf::Dictionary& d, const std::string& key) {
  const auto& m = member(d, key);
  REQUIRE(std::holds_alternative<sf::Item>(m));
  return std::get<sf::Item>(m);
}

// The bare item of `a=<text>`.
sf::BareItem bare(const std::string& text) {
  auto d = sf::parse_dictionary("a=" + text);
  REQUIRE_MESSAGE(d.has_value(), "a=", text, " should parse");
  REQUIRE(d->size() == 1);
  return item(*d, "a").value;
}

std::vector<std::string> keys(const sf::Dictionary& d) {
  std::vector<std::string> out;
  for (const auto& [k, m] : d) out.push_back(k);
  return out;
}

}  // namespace

TEST_CASE("structured field: the RFC 8941 dictionary examples (RFC 8941 3.2)") {
  auto d = sf::parse_dictionary(R"(en="Applepie", da=:w4ZibGV0w6ZydGUK:)");
  REQUIRE(d);
  CHECK(keys(*d) == std::vector<std::string>{"en", "da"});
  CHECK(item(*d, "en").value == sf::BareItem{std::string("Applepie")});
  CHECK(item(*d, "da").value == sf::BareItem{sf::ByteSequence{"\xc3\x86" "blet\xc3\xa6rte\n"}});

  d = sf::parse_dictionary("a=?0, b, c; foo=bar");
  REQUIRE(d);
  CHECK(item(*d, "a").value == sf::BareItem{false});
  CHECK(item(*d, "b").value == sf::BareItem{true});
  CHECK(item(*d, "b").params.empty());
  const auto& c = item(*d, "c");
  CHECK(c.value == sf::BareItem{true});
  REQUIRE(c.params.size() == 1);
  CHECK(c.params[0].first == "foo");
  CHECK(c.params[0].second == sf::BareItem{sf::Token{"bar"}});

  d = sf::parse_dictionary("rating=1.5, feelings=(joy sadness)");
  REQUIRE(d);
  CHECK(item(*d, "rating").value == sf::BareItem{sf::Decimal{1500}});
  const auto& feelings = std::get<sf::InnerList>(member(*d, "feelings"));
  REQUIRE(feelings.items.size() == 2);
  CHECK(feelings.items[0].value == sf::BareItem{sf::Token{"joy"}});
  CHECK(feelings.items[1].value == sf::BareItem{sf::Token{"sadness"}});

  d = sf::parse_dictionary("a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid");
  REQUIRE(d);
  CHECK(keys(*d) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(std::get<sf::InnerList>(member(*d, "a")).items.size() == 2);
  CHECK(item(*d, "b").value == sf::BareItem{std::int64_t{3}});
  CHECK(item(*d, "c").params[0].second == sf::BareItem{sf::Token{"bb"}});
  const auto& dl = std::get<sf::InnerList>(member(*d, "d"));
  CHECK(dl.items[1].value == sf::BareItem{std::int64_t{6}});
  REQUIRE(dl.params.size() == 1);
  CHECK(dl.params[0].first == "valid");
  CHECK(dl.params[0].second == sf::BareItem{true});
}

TEST_CASE("structured field: bare items (RFC 8941 3.3)") {
  CHECK(bare("42") == sf::BareItem{std::int64_t{42}});
  CHECK(bare("-42") == sf::BareItem{std::int64_t{-42}});
  CHECK(bare("-0") == sf::BareItem{std::int64_t{0}});
  CHECK(bare("999999999999999") == sf::BareItem{std::int64_t{999999999999999}});
  CHECK(bare("-999999999999999") == sf::BareItem{std::int64_t{-999999999999999}});
  CHECK(bare("4.5") == sf::BareItem{sf::Decimal{4500}});
  CHECK(bare("-0.001") == sf::BareItem{sf::Decimal{-1}});
  CHECK(bare("123456789012.123") == sf::BareItem{sf::Decimal{123456789012123}});
  CHECK(bare(R"("hello world")") == sf::BareItem{std::string("hello world")});
  CHECK(bare(R"("")") == sf::BareItem{std::string()});
  CHECK(bare(R"("a \"quoted\" \\ slash")") == sf::BareItem{std::string(R"(a "quoted" \ slash)")});
  CHECK(bare("foo123/456") == sf::BareItem{sf::Token{"foo123/456"}});
  CHECK(bare("*foo:bar") == sf::BareItem{sf::Token{"*foo:bar"}});
  CHECK(bare("Foo") == sf::BareItem{sf::Token{"Foo"}});  // tokens may be upper-case, keys not
  CHECK(bare(":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:") ==
        sf::BareItem{sf::ByteSequence{"pretend this is binary content."}});
  CHECK(bare("::") == sf::BareItem{sf::ByteSequence{}});
  // §4.2.7: parsers should not fail on missing padding or non-zero pad bits.
  CHECK(bare(":aGVsbG8:") == sf::BareItem{sf::ByteSequence{"hello"}});
  CHECK(bare(":iZ==:") == sf::BareItem{sf::ByteSequence{"\x89"}});
  CHECK(bare("?1") == sf::BareItem{true});
  CHECK(bare("?0") == sf::BareItem{false});
}

TEST_CASE("structured field: parameters, inner lists, whitespace and duplicates (RFC 8941 4.2)") {
  auto d = sf::parse_dictionary(R"(a=("foo"; x=1;y=2 "bar");lvl=5, b=(), c=( 1  2 ))");
  REQUIRE(d);
  const auto& a = std::get<sf::InnerList>(member(*d, "a"));
  REQUIRE(a.items.size() == 2);
  REQUIRE(a.items[0].params.size() == 2);
  CHECK(a.items[0].params[1].second == sf::BareItem{std::int64_t{2}});
  CHECK(a.params[0].second == sf::BareItem{std::int64_t{5}});
  CHECK(std::get<sf::InnerList>(member(*d, "b")).items.empty());
  CHECK(std::get<sf::InnerList>(member(*d, "c")).items.size() == 2);

  // OWS (SP and HTAB) around commas, leading and trailing SP.
  d = sf::parse_dictionary("  a=1 ,\tb=2\t,  c  ");
  REQUIRE(d);
  CHECK(keys(*d) == std::vector<std::string>{"a", "b", "c"});

  // A repeated key keeps its first position and takes the last value;
  // repeated parameters likewise.
  d = sf::parse_dictionary("a=1, b=2, a=3;x;x=?0");
  REQUIRE(d);
  CHECK(keys(*d) == std::vector<std::string>{"a", "b"});
  CHECK(item(*d, "a").value == sf::BareItem{std::int64_t{3}});
  REQUIRE(item(*d, "a").params.size() == 1);
  CHECK(item(*d, "a").params[0].second == sf::BareItem{false});

  // Keys: lcalpha or '*' first, then lcalpha, digits, '_', '-', '.', '*'.
  d = sf::parse_dictionary("*a_b-c.d*9=1, max-age=2");
  REQUIRE(d);
  CHECK(keys(*d) == std::vector<std::string>{"*a_b-c.d*9", "max-age"});

  // Empty input is an empty dictionary (whether that means "absent" is the
  // caller's decision).
  CHECK(sf::parse_dictionary("")->empty());
  CHECK(sf::parse_dictionary("   ")->empty());
}

TEST_CASE("structured field: malformed dictionaries fail whole (RFC 8941 4.2)") {
  const char* bad[] = {
      "max-age=10000, &&&&&",  // an invalid member anywhere (RFC 9213 2.1 example)
      "MaX-aGe=3600",          // keys are lower-case only
      "Max-age=1",
      "a=1;B=2",               // parameter keys too
      "1a=1",                  // a key starts with lcalpha or '*'
      "-a=1",
      "a=1,",                  // trailing comma
      "a=1,  ",
      "a=1,,b=2",              // empty member
      ",a=1",
      "a=1 b=2",               // missing comma
      "a=1;b=2 c=3",
      "a =1",                  // no whitespace around '='
      "a= 1",
      "a=",                    // '=' needs a value
      "a=1 ;b=2",              // nor before ';'
      "\ta=1",                 // leading HTAB is not SP
      "a=@",                   // no such bare item
      "a=1.",                  // decimals: a fractional digit is required
      "a=1.2345",              // at most 3 fractional digits
      "a=1234567890123.5",     // at most 12 integer digits
      "a=1234567890123456",    // integers: at most 15 digits
      "a=-",
      "a=--1",
      "a=1..2",
      "a=\"unterminated",
      "a=\"bad \\escape\"",    // only \" and \\ are escapes
      "a=\"tab\there\"",       // controls are not allowed in strings
      "a=\"caf\xc3\xa9\"",     // nor non-ASCII
      "a=?",                   // booleans are ?0 or ?1
      "a=?2",
      "a=?true",
      "a=:aGVsbG8=",           // unterminated byte sequence
      "a=:aGVs bG8=:",         // no whitespace inside
      "a=:aGVsbG!8=:",
      "a=:_-Ah:",              // base64, not base64url
      "a=:aGVsbG8===:",        // too much padding
      "a=:a=GVsbG8:",          // padding in the middle
      "a=:a:",                 // one base64 character is no byte
      "a=(1 2",                // unterminated inner list
      "a=(1,2)",               // inner list members are separated by SP
      "a=(1\t2)",
      "a=(1 2)x",
      "a=((1))",               // no nesting
      "a=1;",                  // ';' needs a key
      "a=1;b=",
      "a=\xc3\xa9",
      "caf\xc3\xa9=1",
  };
  for (const char* text : bad) {
    const std::string input = text;
    CAPTURE(input);
    CHECK_FALSE(sf::parse_dictionary(input).has_value());
  }
}
