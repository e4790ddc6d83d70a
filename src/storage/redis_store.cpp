// Redis backend: the stored format, one connection per event loop, and the
// reader/writer that stream a body chunk by chunk.
//
// Format, version 2. It is the contract between every relay instance that
// shares a url and key_prefix: change it only together with the version tag.
//   <prefix>m:<cache key>      metadata string (below); TTL = keep_for
//   <prefix>b:<body id>:<n>    body bytes, chunk n = 0..count-1 in order, each
//                              non-empty; TTL = keep_for + 60 s
// keep_for 0 means one day, so nothing lingers forever. The body id is 32
// random hex digits, new for every put, so a replacement never overwrites a
// body someone may be reading. Metadata:
//   "relay-meta 2\n"
//   "<status> <request_time> <response_time> <keep_for> <body_size>
//    <chunk_count> <body id> <header_count>\n"  (one line, single spaces,
//                      decimal; times in ns since the Unix epoch, keep_for in s)
//   reason, then name and value of each header, each as "<length>:<bytes>\n"
//   internal meta: "<kind> <encoding> <raw_size or -> <pending writer>\n"
//   (EntryKind, BodyEncoding as numbers), then the Vary index's names and
//   generation as "<length>:<bytes>\n"
//   <prefix>f:<cache key>      a fill in progress: metadata as above with
//                              body_size and chunk_count 0; TTL 3 s, re-armed
//                              every second by its live writer
// Unreadable metadata (another version) is treated as a miss, and expires
// by its TTL: version 1 carried storage facts as X-Relay-* header fields.
//
// Visibility: full chunks are written first with SET PX; commit() then
// re-arms their TTLs and writes the last chunk and the metadata in one
// MULTI/EXEC. Readers reach a body only through committed metadata, so they
// never see half an entry. A writer dropped before commit deletes its chunks
// best-effort; otherwise they expire. The chunks of a replaced or removed
// entry are left to expire, as a reader may still be streaming them (the
// 60 s grace past the metadata TTL is for such readers too). A chunk missing
// mid-read (evicted) fails the read with storage_unavailable.
//
// Fills in progress, for other instances to stream (get_in_progress): a
// writer announces itself under f: with its first chunk and flushes a
// partial chunk when the origin trickles (every 100 ms at most), so a reader
// elsewhere is never more than one chunk or 100 ms behind. commit() deletes
// the announcement in its transaction; a writer dropped before commit
// deletes it at once; a writer killed with its process stops re-arming it
// and it expires within 3 s. A progress reader polls chunk n and, while it
// is not there, asks whether the same body id is still announced, has been
// committed (then the chunk count is final) or neither (the fill failed).
//
// stats(): counting a shared Redis would cost a SCAN, so entries/size_bytes
// are what this instance committed and whose TTL has not passed yet
// (replacements, removals and other instances are not seen); evictions are 0.
#include "relay/storage/redis_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>

#include "redis_connection.hpp"
#include "relay/util/log.hpp"

namespace relay::storage {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::Command;
using redis::Connection;
using redis::Reply;
template <class T>
using Task = asio::awaitable<Result<T>>;

constexpr std::chrono::milliseconds default_ttl = 24h;
constexpr std::chrono::milliseconds max_ttl = 24h * 3650;
constexpr std::chrono::milliseconds chunk_grace = 60s;
constexpr std::string_view meta_tag = "relay-meta 2\n";
// A fill's announcement outlives its writer's last sign of life by this much.
constexpr std::chrono::milliseconds progress_ttl = 3s;
constexpr std::chrono::milliseconds progress_heartbeat = 1s;
// A trickling origin's bytes reach other instances at least this often.
constexpr std::chrono::milliseconds trickle_flush = 100ms;
// Deletes an announcement only if it is still this writer's.
constexpr const char* withdraw_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end return 'OK'";

error_code unavailable() {
  return make_error_code(Errc::storage_unavailable);
}

error_code note(const std::string& what, std::string_view why) {
  log::debug("redis: ", what, ": ", why);
  return unavailable();
}

// Compared in seconds first: a saturated keep_for (seconds::max()) would
// overflow in milliseconds.
std::chrono::milliseconds ttl_for(std::chrono::seconds keep_for) {
  if (keep_for <= 0s) return default_ttl;
  if (keep_for >= std::chrono::duration_cast<std::chrono::seconds>(max_ttl)) return max_ttl;
  return keep_for;
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}

std::string new_body_id() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }();
  std::string id;
  for (int word = 0; word < 2; ++word) {
    auto bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id += "0123456789abcdef"[bits & 15];
  }
  return id;
}

// ---- metadata ----

struct Stored {
  EntryMeta meta;
  std::string body_id;
  std::uint64_t chunks = 0;
};

std::int64_t to_ns(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SysTime from_ns(std::int64_t ns) {
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns)));
}

void put_string(std::string& out, std::string_view s) {
  out.append(std::to_string(s.size())).append(1, ':').append(s).append(1, '\n');
}

std::string encode(const Stored& s) {
  const auto& m = s.meta;
  std::string out(meta_tag);
  for (auto n : {std::int64_t{m.status}, to_ns(m.request_time), to_ns(m.response_time),
                 std::int64_t(m.keep_for.count()), std::int64_t(m.body_size), std::int64_t(s.chunks)})
    out.append(std::to_string(n)).append(1, ' ');
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
  return out;
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
  if (!in.empty() || (s.chunks == 0) != (m.body_size == 0) || s.chunks > m.body_size) return std::nullopt;
  return s;
}

// True when EXEC answered and nothing inside failed; a PEXPIRE answering 0
// (the only integer replies in our transactions) means a chunk is gone.
bool exec_ok(const Result<std::vector<Reply>>& replies, bool& chunk_missing) {
  if (!replies || replies->empty() || replies->back().type != Reply::Type::array) return false;
  for (const auto& r : replies->back().elements) {
    if (r.is_error()) return false;
    chunk_missing |= r.type == Reply::Type::integer && r.integer == 0;
  }
  return true;
}

// ---- the store ----

class RedisStore final : public Storage, public std::enable_shared_from_this<RedisStore> {
 public:
  RedisStore(const config::RedisStorageConfig& cfg, redis::Options options)
      : prefix_(cfg.key_prefix),
        chunk_size_(cfg.chunk_size > 0 ? cfg.chunk_size : 256 * 1024),
        pool_(std::move(options)) {}

  Task<std::optional<Hit>> get(const CacheKey& key) override;
  Task<std::unique_ptr<BodyWriter>> put(const CacheKey& key, EntryMeta meta) override;
  Task<void> update_meta(const CacheKey& key, EntryMeta meta) override;
  Task<bool> remove(const CacheKey& key) override;
  Stats stats() const override;
  std::string_view backend_name() const noexcept override { return "redis"; }

  Task<std::optional<Hit>> get_in_progress(const CacheKey& key) override;

  std::string meta_key(const std::string& key) const { return prefix_ + "m:" + key; }
  std::string progress_key(const std::string& key) const { return prefix_ + "f:" + key; }
  std::string chunk_key(const std::string& id, std::uint64_t n) const {
    return prefix_ + "b:" + id + ":" + std::to_string(n);
  }
  std::uint64_t chunk_size() const { return chunk_size_; }

  // One MULTI/EXEC re-arms every chunk's TTL and writes the metadata, so a
  // reader sees the entry whole or not at all. `first` (a new body's last
  // chunk) joins the transaction; only_if_present (update_meta) keeps an
  // entry that was removed since it was read removed.
  // `withdraw` (a new body's announcement, if it made one) is deleted in the
  // same transaction, so a progress reader sees the fill announced or
  // committed, never neither.
  Task<void> publish(Connection& conn, const std::string& key, const Stored& stored, Command first,
                     bool only_if_present, Command withdraw = {}) {
    const auto ttl = ttl_for(stored.meta.keep_for);
    std::vector<Command> commands;
    commands.push_back({"MULTI"});
    if (!first.empty()) commands.push_back(std::move(first));
    for (std::uint64_t n = 0; n < stored.chunks; ++n)
      commands.push_back({"PEXPIRE", chunk_key(stored.body_id, n), ms(ttl + chunk_grace)});
    commands.push_back({"SET", meta_key(key), encode(stored), "PX", ms(ttl)});
    if (only_if_present) commands.back().push_back("XX");
    if (!withdraw.empty()) commands.push_back(std::move(withdraw));
    commands.push_back({"EXEC"});
    auto replies = co_await conn.wait(conn.send(std::move(commands)));
    bool chunk_missing = false;
    if (!exec_ok(replies, chunk_missing)) co_return note(meta_key(key), "MULTI/EXEC failed");
    if (chunk_missing) {
      // Evicted meanwhile: better a miss than a read that fails midway.
      conn.send({{"DEL", meta_key(key)}});
      co_return note(meta_key(key), "a body chunk vanished: entry dropped");
    }
    if (!only_if_present) {
      const auto expiry = std::chrono::ceil<std::chrono::minutes>(std::chrono::steady_clock::now() + ttl);
      std::lock_guard lock(stats_mutex_);
      auto& [entries, bytes] = live_[expiry.time_since_epoch().count()];
      ++entries, bytes += stored.meta.body_size;
    }
    co_return Result<void>{};
  }

 private:
  std::shared_ptr<Connection> connection_for(const asio::any_io_executor& ex) { return pool_.for_executor(ex); }

  Task<std::optional<Stored>> load(Connection& conn, const std::string& key) {
    // Built apart from the co_await: GCC 12 cannot keep an initializer_list's
    // array alive across a suspension ("array used as initializer").
    Command get{"GET", meta_key(key)};
    auto reply = co_await conn.command(std::move(get));
    if (!reply) co_return reply.error();
    if (reply->type == Reply::Type::nil) co_return std::optional<Stored>{};
    if (reply->type != Reply::Type::string) co_return note(meta_key(key), reply->str);
    auto stored = decode(reply->str);
    if (!stored) note(meta_key(key), "unreadable metadata, treated as a miss");
    co_return stored;
  }

  std::string prefix_;
  std::uint64_t chunk_size_;
  redis::ConnectionPool pool_;
  mutable std::mutex stats_mutex_;
  mutable std::map<std::int64_t, std::pair<std::uint64_t, std::uint64_t>>
      live_;  // expiry minute -> entries, bytes
};

class RedisReader final : public BodyReader {
 public:
  RedisReader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, Stored stored)
      : store_(std::move(store)), conn_(std::move(conn)), stored_(std::move(stored)) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    if (next_ >= stored_.chunks) {
      if (delivered_ != stored_.meta.body_size) co_return fail("body shorter than its metadata says");
      co_return std::span<const char>{};
    }
    auto batch = std::move(prefetch_);
    if (!batch) batch = fetch(next_);
    auto replies = co_await conn_->wait(std::move(batch));
    if (!replies) co_return fail("chunk read failed");
    auto& reply = replies->front();
    if (reply.type != Reply::Type::string || reply.str.empty())
      co_return fail("chunk missing (expired or evicted)");
    current_ = std::move(reply.str);
    delivered_ += current_.size();
    if (delivered_ > stored_.meta.body_size) co_return fail("body longer than its metadata says");
    // Pipelining: the next chunk travels while the caller sends this one.
    // Memory stays bounded by two chunks per reader.
    if (++next_ < stored_.chunks) prefetch_ = fetch(next_);
    co_return std::span<const char>(current_.data(), current_.size());
  }

 private:
  std::shared_ptr<redis::Batch> fetch(std::uint64_t n) {
    return conn_->send({{"GET", store_->chunk_key(stored_.body_id, n)}});
  }
  error_code fail(std::string_view why) {
    failed_ = true;
    prefetch_.reset();
    current_ = std::string();
    return note("body " + stored_.body_id, why);
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  Stored stored_;
  std::string current_;
  std::shared_ptr<redis::Batch> prefetch_;
  std::uint64_t next_ = 0;
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
};

// Keeps a fill's announcement alive while its writer lives, so readers on
// other instances can tell a slow origin from a dead writer.
asio::awaitable<void> keep_announced(std::weak_ptr<Connection> weak, std::string progress_key,
                                     std::shared_ptr<std::atomic<bool>> alive) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(progress_heartbeat);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto conn = weak.lock();
    if (!conn || !alive->load(std::memory_order_relaxed)) co_return;
    conn->send({{"PEXPIRE", progress_key, ms(progress_ttl)}});
  }
}

class RedisWriter final : public BodyWriter {
 public:
  RedisWriter(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, std::string key,
              EntryMeta meta)
      : store_(std::move(store)),
        conn_(std::move(conn)),
        key_(std::move(key)),
        ttl_(ttl_for(meta.keep_for)),
        last_flush_(std::chrono::steady_clock::now()) {
    stored_.meta = std::move(meta);
    stored_.meta.body_size = 0;
    stored_.body_id = new_body_id();
  }

  ~RedisWriter() override {
    alive_->store(false, std::memory_order_relaxed);
    // Not committed: nothing refers to these chunks. Fire and forget; if
    // Redis is unreachable they expire by themselves. Posted, as a writer
    // may be dropped on another thread than its loop's; the weak pointer
    // leaves the connection's lifetime to its owners.
    if (committed_ || stored_.chunks == 0) return;
    std::vector<Command> cleanup;
    if (!announcement_.empty()) cleanup.push_back(withdraw());
    Command del{"DEL"};
    for (std::uint64_t n = 0; n < stored_.chunks; ++n) del.push_back(store_->chunk_key(stored_.body_id, n));
    cleanup.push_back(std::move(del));
    asio::post(conn_->executor(), [weak = std::weak_ptr<Connection>(conn_), cleanup = std::move(cleanup)]() mutable {
      if (auto conn = weak.lock()) conn->send(std::move(cleanup));
    });
  }

  Task<void> write(std::span<const char> data) override {
    if (error_) co_return error_;
    if (committed_) co_return unavailable();
    size_ += data.size();
    const auto chunk = store_->chunk_size();
    while (!data.empty()) {
      auto take = std::min<std::size_t>(data.size(), chunk - buffer_.size());
      // Grow geometrically but never past one chunk.
      if (buffer_.size() + take > buffer_.capacity())
        buffer_.reserve(
            std::min<std::size_t>(chunk, std::max(buffer_.size() + take, 2 * buffer_.capacity())));
      buffer_.append(data.data(), take);
      data = data.subspan(take);
      if (buffer_.size() < chunk) continue;
      if (auto flushed = co_await flush(); !flushed) co_return flushed;
    }
    // A slow origin's bytes should not wait for a full chunk to reach
    // readers on other instances.
    if (!buffer_.empty() && std::chrono::steady_clock::now() - last_flush_ >= trickle_flush) {
      if (auto flushed = co_await flush(); !flushed) co_return flushed;
    }
    co_return Result<void>{};
  }

  Task<void> commit() override {
    if (error_) co_return error_;
    if (committed_) co_return Result<void>{};
    // The last, partial chunk joins the publishing transaction: a small
    // object costs one round trip.
    Command last;
    if (!buffer_.empty()) last = chunk_set();
    stored_.meta.body_size = size_;
    Command withdrawal;
    if (!announcement_.empty()) withdrawal = withdraw();
    auto published = co_await store_->publish(*conn_, key_, stored_, std::move(last), false, std::move(withdrawal));
    if (!published) co_return error_ = published.error();
    committed_ = true;
    alive_->store(false, std::memory_order_relaxed);
    co_return Result<void>{};
  }

 private:
  // Stores the buffered bytes as the next chunk; the first one also
  // announces the fill to other instances.
  Task<void> flush() {
    std::vector<Command> commands;
    if (announcement_.empty()) {
      announcement_ = encode(stored_);
      commands.push_back({"SET", store_->progress_key(key_), announcement_, "PX", ms(progress_ttl)});
      asio::co_spawn(conn_->executor(),
                     keep_announced(conn_, store_->progress_key(key_), alive_), asio::detached);
    }
    commands.push_back(chunk_set());
    last_flush_ = std::chrono::steady_clock::now();
    auto replies = co_await conn_->wait(conn_->send(std::move(commands)));
    bool failed = !replies;
    if (replies)
      for (const auto& reply : *replies) failed |= reply.is_error();
    if (failed) co_return error_ = note("put " + key_, "chunk write failed");
    co_return Result<void>{};
  }

  Command withdraw() const {
    return {"EVAL", withdraw_script, "1", store_->progress_key(key_), announcement_};
  }

  // The SET for the buffered chunk; counted at once, so that the
  // destructor's DEL covers it whatever its reply.
  Command chunk_set() {
    Command set{"SET", store_->chunk_key(stored_.body_id, stored_.chunks++), std::move(buffer_), "PX",
                ms(ttl_ + chunk_grace)};
    buffer_ = std::string();
    return set;
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  std::string key_;
  std::chrono::milliseconds ttl_;
  Stored stored_;
  std::string buffer_;
  std::string announcement_;  // the f: record's value, once announced
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
  std::chrono::steady_clock::time_point last_flush_;
  std::uint64_t size_ = 0;
  error_code error_;
  bool committed_ = false;
};

// Reads a body while its writer (maybe in another instance) still writes it.
class ProgressReader final : public BodyReader {
 public:
  ProgressReader(std::shared_ptr<RedisStore> store, std::shared_ptr<Connection> conn, std::string key,
                 Stored announced)
      : store_(std::move(store)), conn_(std::move(conn)), key_(std::move(key)), body_id_(std::move(announced.body_id)) {}

  Task<std::span<const char>> read() override {
    if (failed_) co_return unavailable();
    auto backoff = 2ms;
    for (;;) {
      if (final_chunks_ && next_ >= *final_chunks_) {
        if (delivered_ != final_size_) co_return fail("body shorter than its metadata says");
        co_return std::span<const char>{};
      }
      // While the fill runs, one round trip asks for the chunk and, should
      // it not be there yet, whether the fill still runs or has ended.
      std::vector<Command> ask;
      ask.push_back({"GET", store_->chunk_key(body_id_, next_)});
      if (!final_chunks_) {
        ask.push_back({"GET", store_->progress_key(key_)});
        ask.push_back({"GET", store_->meta_key(key_)});
      }
      auto replies = co_await conn_->wait(conn_->send(std::move(ask)));
      if (!replies || replies->empty()) co_return fail("poll failed");
      auto& chunk = replies->front();
      if (chunk.type == Reply::Type::string && !chunk.str.empty()) {
        current_ = std::move(chunk.str);
        delivered_ += current_.size();
        ++next_;
        co_return std::span<const char>(current_.data(), current_.size());
      }
      if (final_chunks_) co_return fail("chunk missing (expired or evicted)");
      if (ours((*replies)[1])) {
        asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 50ms);
        continue;
      }
      // Not announced any more: committed (the count is final; look again,
      // the chunk may have come with the commit) or given up.
      auto& meta = (*replies)[2];
      auto committed = meta.type == Reply::Type::string ? decode(meta.str) : std::nullopt;
      if (!committed || committed->body_id != body_id_) co_return fail("the fill was abandoned");
      final_chunks_ = committed->chunks;
      final_size_ = committed->meta.body_size;
    }
  }

 private:
  bool ours(const Reply& reply) const {
    if (reply.type != Reply::Type::string) return false;
    auto announced = decode(reply.str);
    return announced && announced->body_id == body_id_;
  }
  error_code fail(std::string_view why) {
    failed_ = true;
    current_ = std::string();
    return note("fill " + body_id_, why);
  }

  std::shared_ptr<RedisStore> store_;
  std::shared_ptr<Connection> conn_;
  std::string key_;
  std::string body_id_;
  std::string current_;
  std::optional<std::uint64_t> final_chunks_;
  std::uint64_t final_size_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t delivered_ = 0;
  bool failed_ = false;
};

Task<std::optional<Hit>> RedisStore::get(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  auto stored = co_await load(*conn, key);
  if (!stored) co_return stored.error();
  if (!*stored) co_return std::optional<Hit>{};
  EntryMeta meta = (*stored)->meta;
  Hit hit{std::move(meta), std::make_unique<RedisReader>(shared_from_this(), conn, std::move(**stored))};
  co_return std::optional<Hit>{std::move(hit)};
}

Task<std::optional<Hit>> RedisStore::get_in_progress(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  Command get{"GET", progress_key(key)};
  auto reply = co_await conn->command(std::move(get));
  if (!reply) co_return reply.error();
  if (reply->type != Reply::Type::string) co_return std::optional<Hit>{};
  auto announced = decode(reply->str);
  if (!announced) co_return std::optional<Hit>{};
  EntryMeta meta = announced->meta;
  Hit hit{std::move(meta), std::make_unique<ProgressReader>(shared_from_this(), conn, key, std::move(*announced))};
  co_return std::optional<Hit>{std::move(hit)};
}

Task<std::unique_ptr<BodyWriter>> RedisStore::put(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  // Fail now rather than after the caller has streamed a body into nowhere.
  if (!conn->available()) co_return unavailable();
  co_return std::unique_ptr<BodyWriter>(
      std::make_unique<RedisWriter>(shared_from_this(), std::move(conn), key, std::move(meta)));
}

Task<void> RedisStore::update_meta(const CacheKey& cache_key, EntryMeta meta) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  auto loaded = co_await load(*conn, key);
  if (!loaded) co_return loaded.error();
  if (!*loaded) co_return Result<void>{};
  Stored stored = std::move(**loaded);
  meta.body_size = stored.meta.body_size;
  stored.meta = std::move(meta);
  co_return co_await publish(*conn, key, stored, Command{}, true);
}

Task<bool> RedisStore::remove(const CacheKey& cache_key) {
  const std::string key = cache_key.flat();
  auto conn = connection_for(co_await asio::this_coro::executor);
  Command del{"DEL", meta_key(key)};
  auto reply = co_await conn->command(std::move(del));
  if (!reply || reply->type != Reply::Type::integer)
    co_return Result<bool>(boost::system::in_place_error, unavailable());
  co_return reply->integer > 0;
}

Stats RedisStore::stats() const {
  const auto now = std::chrono::floor<std::chrono::minutes>(std::chrono::steady_clock::now());
  std::lock_guard lock(stats_mutex_);
  live_.erase(live_.begin(), live_.upper_bound(now.time_since_epoch().count()));
  Stats s;
  for (const auto& [minute, counts] : live_) s.entries += counts.first, s.size_bytes += counts.second;
  return s;
}

}  // namespace

std::shared_ptr<Storage> make_redis_store(const config::RedisStorageConfig& cfg) {
  const auto& url = cfg.url;
  redis::Options options{{url.host, url.port, url.password, url.db}, cfg.connect_timeout, cfg.command_timeout};
  return std::make_shared<RedisStore>(cfg, std::move(options));
}

}  // namespace relay::storage
