// Writes and reads the metadata string described in format.hpp: numbers in
// decimal, strings as "<length>:<bytes>\n"; decode() refuses anything else.
#include "format.hpp"

#include <charconv>
#include <chrono>

namespace relay::storage::redis {
namespace {

constexpr std::string_view meta_tag = "relay-meta 2\n";
constexpr std::string_view purge_tag = "purge ";

std::int64_t to_ns(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SysTime from_ns(std::int64_t ns) {
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns)));
}

void put_string(std::string& out, std::string_view s) {
  out.append(std::to_string(s.size())).append(1, ':').append(s).append(1, '\n');
}

// The readers of what encode() wrote: each consumes its part of `in` and
// fails on anything else.
template <class T>
bool take_number(std::string_view& in, T& out, char end) {
  auto [p, ec] = std::from_chars(in.data(), in.data() + in.size(), out);
  if (ec != std::errc{} || p == in.data() + in.size() || *p != end) return false;
  in.remove_prefix(static_cast<std::size_t>(p - in.data()) + 1);
  return true;
}
bool take_word(std::string_view& in, std::string& out) {
  const auto len = in.find(' ');
  if (len == 0 || len == std::string_view::npos) return false;
  out = in.substr(0, len);
  in.remove_prefix(len + 1);
  return true;
}
bool take_string(std::string_view& in, std::string& out) {
  std::size_t len = 0;
  if (!take_number(in, len, ':') || len >= in.size() || in[len] != '\n') return false;
  out = in.substr(0, len);
  in.remove_prefix(len + 1);
  return true;
}

bool take_internal(std::string_view& in, InternalMeta& out) {
  int kind = 0, encoding = 0;
  std::string raw;
  if (!take_number(in, kind, ' ') || !take_number(in, encoding, ' ') || !take_word(in, raw) ||
      !take_number(in, out.pending_writer, '\n') || !take_string(in, out.vary.names) ||
      !take_string(in, out.vary.generation))
    return false;
  if (kind < 0 || kind > static_cast<int>(EntryKind::vary_index) || encoding < 0 ||
      encoding > static_cast<int>(BodyEncoding::zstd))
    return false;
  out.kind = static_cast<EntryKind>(kind);
  out.encoding = static_cast<BodyEncoding>(encoding);
  if (raw != "-") {
    std::string_view text = raw;
    std::uint64_t size = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
    if (ec != std::errc{} || p != text.data() + text.size()) return false;
    out.raw_size = size;
  }
  return true;
}

bool take_purge_facts(std::string_view& in, InternalMeta& out) {
  std::size_t count = 0;
  std::string stale;
  if (!in.starts_with(purge_tag)) return false;
  in.remove_prefix(purge_tag.size());
  if (!take_number(in, count, ' ')) return false;
  const auto end = in.find('\n');
  if (end == 0 || end == std::string_view::npos) return false;
  stale = in.substr(0, end);
  in.remove_prefix(end + 1);
  if (stale != "-") {
    std::string_view text = stale;
    std::int64_t ns = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ns);
    if (ec != std::errc{} || p != text.data() + text.size()) return false;
    out.stale_at = from_ns(ns);
  }
  // count is not trusted for a reserve(): each tag must parse.
  for (std::size_t i = 0; i < count; ++i) {
    if (!take_string(in, out.tags.emplace_back())) return false;
  }
  return true;
}

}  // namespace

std::string encode(const Stored& s) {
  const auto& m = s.meta;
  std::string out(meta_tag);
  for (auto n : {std::int64_t{m.status}, to_ns(m.request_time), to_ns(m.response_time),
                 std::int64_t(m.keep_for.count())})
    out.append(std::to_string(n)).append(1, ' ');
  // Sizes as the unsigned numbers decode() reads (found by fuzz_redis_record:
  // a size past INT64_MAX came back negative, unreadable).
  for (auto n : {m.body_size, std::uint64_t{s.chunks}}) out.append(std::to_string(n)).append(1, ' ');
  out.append(s.body_id).append(1, ' ').append(std::to_string(m.headers.size())).append(1, '\n');
  put_string(out, m.reason);
  for (const auto& f : m.headers) put_string(out, f.name), put_string(out, f.value);
  const auto& in = m.internal;
  out.append(std::to_string(static_cast<int>(in.kind))).append(1, ' ');
  out.append(std::to_string(static_cast<int>(in.encoding))).append(1, ' ');
  out.append(in.raw_size ? std::to_string(*in.raw_size) : "-").append(1, ' ');
  out.append(std::to_string(in.pending_writer)).append(1, '\n');
  put_string(out, in.vary.names);
  put_string(out, in.vary.generation);
  if (!in.tags.empty() || in.stale_at) {
    out.append(purge_tag).append(std::to_string(in.tags.size())).append(1, ' ');
    out.append(in.stale_at ? std::to_string(to_ns(*in.stale_at)) : "-").append(1, '\n');
    for (const auto& tag : in.tags) put_string(out, tag);
  }
  return out;
}

std::optional<Stored> decode(std::string_view in) {
  Stored s;
  auto& m = s.meta;
  std::int64_t request_ns = 0, response_ns = 0, keep_s = 0;
  std::size_t header_count = 0;
  if (!in.starts_with(meta_tag)) return std::nullopt;
  in.remove_prefix(meta_tag.size());
  if (!take_number(in, m.status, ' ') || !take_number(in, request_ns, ' ') ||
      !take_number(in, response_ns, ' ') || !take_number(in, keep_s, ' ') ||
      !take_number(in, m.body_size, ' ') || !take_number(in, s.chunks, ' ') || !take_word(in, s.body_id) ||
      !take_number(in, header_count, '\n') || !take_string(in, m.reason))
    return std::nullopt;
  m.request_time = from_ns(request_ns);
  m.response_time = from_ns(response_ns);
  m.keep_for = std::chrono::seconds(keep_s);
  // header_count is not trusted for a reserve(): each field must parse.
  for (std::size_t i = 0; i < header_count; ++i) {
    std::string name, value;
    if (!take_string(in, name) || !take_string(in, value)) return std::nullopt;
    m.headers.add(std::move(name), std::move(value));
  }
  if (!take_internal(in, m.internal)) return std::nullopt;
  if (!in.empty() && !take_purge_facts(in, m.internal)) return std::nullopt;
  if (!in.empty() || (s.chunks == 0) != (m.body_size == 0) || s.chunks > m.body_size) return std::nullopt;
  return s;
}

}  // namespace relay::storage::redis
