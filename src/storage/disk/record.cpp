// The disk backend's record format: encoding and checked decoding. Pure
// (hashing aside): no files, no Asio.
//
// Record format (meta/ab/cdef..., one per key), all integers little-endian:
//   "RLYM"  u16 version (3)  u16 flags  u32 payload length
//   payload: str key, u32 status, str reason, u32 field count,
//            count x (str name, str value), i64 request_time (ns since epoch),
//            i64 response_time (ns), i64 keep_for (s), u64 body size,
//            internal meta: u8 kind, str vary names, str vary generation,
//            u8 encoding, u8 raw size known, u64 raw size, u64 pending writer,
//            str body hash (64 hex digits),
//            str block hashes (32-byte SHA-256 of each 64 KiB block, in order),
//            flag 1 (purge facts) set: u32 tag count, count x str tag,
//            u8 stale known, i64 stale_at (ns)
//   32 bytes: SHA-256 of everything before it
// where str = u32 length + bytes. The key is inside so the index can be
// rebuilt from the files alone and a file-name collision is detectable; the
// trailing checksum catches bit rot a rename cannot. Version 1 (no block
// hashes) and version 2 (storage facts as X-Relay-* header fields, Vary
// indexes as entries with status 0) are not read: such records are removed
// at start like any debris, and their bodies with them, so an upgrade
// starts from an empty cache rather than misread what it finds. The purge
// facts (tags, a soft purge's stale_at) came later as a flagged extension,
// not a new version: records without it (all those written before, and
// untagged ones now) stay readable both ways; an older relay drops a record
// that has it as unreadable, a miss.
#include "record.hpp"

#include <cstring>

#include "blocks.hpp"

namespace relay::storage::disk {

namespace {

constexpr char magic[4] = {'R', 'L', 'Y', 'M'};
constexpr std::size_t record_head = 12;             // magic, version, flags, length
constexpr std::uint16_t flag_purge_facts = 1;       // tags / stale_at follow the block list
constexpr std::uint16_t known_flags = flag_purge_facts;

void put_u(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u(out, s.size(), 4);
  out.append(s);
}

std::int64_t ns_since_epoch(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Reads the record payload front to back; any overrun sets failed.
struct Cursor {
  std::string_view rest;
  bool failed = false;

  std::uint64_t u(int bytes) {
    if (rest.size() < static_cast<std::size_t>(bytes)) {
      failed = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(rest[i])} << (8 * i);
    rest.remove_prefix(bytes);
    return v;
  }
  std::string str() {
    auto n = u(4);
    if (failed || rest.size() < n) {
      failed = true;
      return {};
    }
    std::string s(rest.substr(0, n));
    rest.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string encode_record(const std::string& key, const EntryMeta& meta, const std::string& body_hex,
                          std::string_view blocks) {
  std::string payload;
  payload.reserve(128 + key.size() + meta.reason.size());
  put_str(payload, key);
  put_u(payload, static_cast<std::uint32_t>(meta.status), 4);
  put_str(payload, meta.reason);
  put_u(payload, meta.headers.size(), 4);
  for (const auto& f : meta.headers) {
    put_str(payload, f.name);
    put_str(payload, f.value);
  }
  put_u(payload, static_cast<std::uint64_t>(ns_since_epoch(meta.request_time)), 8);
  put_u(payload, static_cast<std::uint64_t>(ns_since_epoch(meta.response_time)), 8);
  put_u(payload, static_cast<std::uint64_t>(meta.keep_for.count()), 8);
  put_u(payload, meta.body_size, 8);
  const auto& internal = meta.internal;
  put_u(payload, static_cast<std::uint8_t>(internal.kind), 1);
  put_str(payload, internal.vary.names);
  put_str(payload, internal.vary.generation);
  put_u(payload, static_cast<std::uint8_t>(internal.encoding), 1);
  put_u(payload, internal.raw_size ? 1 : 0, 1);
  put_u(payload, internal.raw_size.value_or(0), 8);
  put_u(payload, internal.pending_writer, 8);
  put_str(payload, body_hex);
  put_str(payload, blocks);
  const bool purge_facts = !internal.tags.empty() || internal.stale_at.has_value();
  if (purge_facts) {
    put_u(payload, internal.tags.size(), 4);
    for (const auto& tag : internal.tags) put_str(payload, tag);
    put_u(payload, internal.stale_at ? 1 : 0, 1);
    put_u(payload, static_cast<std::uint64_t>(ns_since_epoch(internal.stale_at.value_or(SysTime{}))), 8);
  }

  std::string out(magic, sizeof magic);
  put_u(out, current_record_version, 2);
  put_u(out, purge_facts ? flag_purge_facts : 0, 2);
  put_u(out, payload.size(), 4);
  out += payload;
  Sha256 sum;
  sum.update(out);
  auto digest = sum.finish();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

std::optional<Record> decode_record(std::string_view bytes) {
  if (bytes.size() < record_head + 32 || bytes.substr(0, 4) != std::string_view(magic, 4))
    return std::nullopt;
  Cursor head{bytes.substr(4, 8)};
  auto version = head.u(2);
  auto flags = head.u(2);
  auto length = head.u(4);
  if (version != current_record_version || (flags & ~std::uint64_t{known_flags}) != 0 ||
      bytes.size() != record_head + length + 32)
    return std::nullopt;
  Sha256 sum;
  sum.update(bytes.substr(0, record_head + length));
  auto digest = sum.finish();
  if (std::memcmp(digest.data(), bytes.data() + record_head + length, digest.size()) != 0)
    return std::nullopt;

  Cursor in{bytes.substr(record_head, length)};
  Record r;
  r.key = in.str();
  r.meta.status = static_cast<int>(static_cast<std::int32_t>(in.u(4)));
  r.meta.reason = in.str();
  auto fields = in.u(4);
  // Each field needs at least 8 bytes: refuse counts the payload cannot hold.
  if (fields > in.rest.size() / 8) return std::nullopt;
  for (std::uint64_t i = 0; i < fields && !in.failed; ++i) {
    auto name = in.str();
    auto value = in.str();
    r.meta.headers.add(std::move(name), std::move(value));
  }
  auto as_time = [](std::uint64_t ns) {
    return SysTime(std::chrono::duration_cast<SysTime::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
  };
  r.meta.request_time = as_time(in.u(8));
  r.meta.response_time = as_time(in.u(8));
  r.meta.keep_for = std::chrono::seconds(static_cast<std::int64_t>(in.u(8)));
  r.meta.body_size = in.u(8);
  auto& internal = r.meta.internal;
  auto kind = in.u(1);
  internal.vary.names = in.str();
  internal.vary.generation = in.str();
  auto encoding = in.u(1);
  auto raw_known = in.u(1);
  auto raw_size = in.u(8);
  internal.pending_writer = in.u(8);
  if (kind > static_cast<std::uint8_t>(EntryKind::vary_index) ||
      encoding > static_cast<std::uint8_t>(BodyEncoding::zstd) || raw_known > 1)
    return std::nullopt;
  internal.kind = static_cast<EntryKind>(kind);
  internal.encoding = static_cast<BodyEncoding>(encoding);
  if (raw_known) internal.raw_size = raw_size;
  r.body_hex = in.str();
  r.blocks = in.str();
  if (flags & flag_purge_facts) {
    auto tags = in.u(4);
    if (tags > in.rest.size() / 4) return std::nullopt;  // each needs its length at least
    for (std::uint64_t i = 0; i < tags && !in.failed; ++i) internal.tags.push_back(in.str());
    auto stale_known = in.u(1);
    auto stale_ns = in.u(8);
    if (stale_known > 1) return std::nullopt;
    if (stale_known) internal.stale_at = as_time(stale_ns);
  }
  if (in.failed || !in.rest.empty() || !is_digest_hex(r.body_hex) || !blocks_fit(r.blocks, r.meta.body_size))
    return std::nullopt;
  return r;
}

std::optional<std::uint16_t> record_version(std::string_view bytes) {
  if (bytes.size() < record_head || bytes.substr(0, 4) != std::string_view(magic, 4)) return std::nullopt;
  Cursor head{bytes.substr(4, 2)};
  return static_cast<std::uint16_t>(head.u(2));
}

}  // namespace relay::storage::disk
