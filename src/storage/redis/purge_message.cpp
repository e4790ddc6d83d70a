// The purge bus's message (purge_message.hpp): written with to_string of
// the selector kind and mode, read back by comparing against the same names.
#include "purge_message.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>

namespace relay::storage::redis {
namespace {

constexpr std::string_view message_tag = "relay-purge 1 ";

// The next space-separated word of the header line.
std::string_view take_word(std::string_view& line) {
  const auto end = line.find(' ');
  auto word = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end + 1);
  return word;
}

std::optional<PurgeSelector::Kind> parse_kind(std::string_view word) {
  using Kind = PurgeSelector::Kind;
  for (auto kind : {Kind::url, Kind::prefix, Kind::glob, Kind::tag, Kind::all})
    if (to_string(kind) == word) return kind;
  return std::nullopt;
}

}  // namespace

std::string encode_purge(std::string_view instance, const PurgeRequest& request) {
  const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(request.at.time_since_epoch()).count();
  std::string out(message_tag);
  out.append(instance).append(1, ' ');
  out.append(to_string(request.selector.kind)).append(1, ' ');
  out.append(to_string(request.mode)).append(1, ' ');
  out.append(std::to_string(at)).append(1, '\n');
  return out.append(request.selector.value);
}

std::optional<PurgeMessage> decode_purge(std::string_view payload) {
  if (!payload.starts_with(message_tag)) return std::nullopt;
  payload.remove_prefix(message_tag.size());
  const auto eol = payload.find('\n');
  if (eol == std::string_view::npos) return std::nullopt;
  auto line = payload.substr(0, eol);
  PurgeMessage m;
  m.instance = take_word(line);
  auto kind = parse_kind(take_word(line));
  auto mode = take_word(line);
  auto at_text = take_word(line);
  std::int64_t at_ms = 0;
  auto [end, ec] = std::from_chars(at_text.data(), at_text.data() + at_text.size(), at_ms);
  if (m.instance.empty() || m.instance.find_first_not_of("0123456789abcdef") != std::string::npos || !kind ||
      (mode != to_string(PurgeMode::hard) && mode != to_string(PurgeMode::soft)) || ec != std::errc{} ||
      end != at_text.data() + at_text.size() || at_text.empty() || !line.empty())
    return std::nullopt;
  m.request.selector.kind = *kind;
  m.request.selector.value = payload.substr(eol + 1);
  if (*kind == PurgeSelector::Kind::all ? !m.request.selector.value.empty() : m.request.selector.value.empty())
    return std::nullopt;
  m.request.mode = mode == to_string(PurgeMode::soft) ? PurgeMode::soft : PurgeMode::hard;
  m.request.scope = PurgeScope::this_instance;
  m.request.at = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(at_ms)));
  return m;
}

}  // namespace relay::storage::redis
