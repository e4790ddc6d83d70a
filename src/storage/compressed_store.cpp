// The zstd-at-rest decorator (see compressed_store.hpp). What it owns: the
// per-put decision, the encoding facts in EntryMeta::internal, and the
// streaming compress-on-write / decompress-on-read wrappers. It never reads
// or writes an HTTP field beyond deciding (Content-Type, Content-Encoding,
// Content-Length) whether to compress.
//
// A compressed entry carries internal.encoding = zstd and internal.raw_size,
// the body as the origin sent it; get() hands callers the entry as if
// stored as it came (identity, body_size = raw size). What a caller passes
// in internal.encoding / raw_size is ignored: only this layer sets them.
//
// The raw size must be in the head before anyone reads the entry, but a
// streamed head is fixed at put() time. With a Content-Length the size is
// known up front (and checked at commit). Without one the entry is committed
// with raw_size pending (nullopt) and pending_writer set, which get() treats
// as a miss, and then re-published with the real size through update_meta
// once the inner entry is confirmed to still be ours (same pending_writer).
//
// update_meta: callers pass the head they got from get(), so the encoding
// facts are read back from the inner entry (one inner get) and put on the
// new head. The inner store's own update_meta has the same read-then-write
// window, so this adds no new kind of race.
//
// Stats: the inner store's, plus raw_bytes / compressed_bytes summed over the
// bodies this decorator compressed and committed since start (bodies stored
// as they are count in neither, so the ratio is that of compression itself).
#include "relay/storage/compressed_store.hpp"

#include "relay/cache/key.hpp"

#include <atomic>
#include <charconv>
#include <random>

#include "relay/compress/zstd_stream.hpp"

namespace relay::storage {
namespace {

namespace asio = boost::asio;

error_code unreadable() { return make_error_code(Errc::storage_unavailable); }

std::optional<std::uint64_t> parse_size(std::string_view text) {
  text = http::trim(text);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// The encoding facts as a caller sees them: none.
void as_stored_as_it_came(InternalMeta& internal) {
  internal.encoding = BodyEncoding::identity;
  internal.raw_size.reset();
  internal.pending_writer = 0;
}


bool compressible_type(const http::Headers& headers, const std::vector<std::string>& types) {
  auto value = headers.get("content-type");
  if (!value) return false;
  auto media = http::trim(value->substr(0, value->find(';')));
  for (const auto& pattern : types)
    if (cache::glob_match(pattern, media, /*ignore_case=*/true)) return true;
  return false;
}

// A token unique to one writer, so re-publishing the size can never stamp it
// on an entry another writer committed meanwhile.
std::uint64_t next_token() {
  static const std::uint64_t seed = std::random_device{}() * 0x9E3779B97F4A7C15ull;
  static std::atomic<std::uint64_t> counter{0};
  auto token = seed ^ counter.fetch_add(1, std::memory_order_relaxed);
  return token != 0 ? token : 1;  // 0 means "no writer"
}

struct Counters {
  std::atomic<std::uint64_t> raw_bytes{0};
  std::atomic<std::uint64_t> compressed_bytes{0};
};

class DecompressingReader final : public BodyReader {
 public:
  // raw_size unknown: an entry still being written without a Content-Length;
  // the zstd frame's own end is then the only check.
  DecompressingReader(std::unique_ptr<BodyReader> inner, std::optional<std::uint64_t> raw_size)
      : inner_(std::move(inner)), expected_(raw_size) {}

  asio::awaitable<Result<std::span<const char>>> read() override {
    if (failed_) co_return unreadable();
    for (;;) {
      if (!decoder_.needs_input()) {
        auto out = decoder_.next();
        if (!out) co_return fail(out.error());
        produced_ += out->size();
        if (expected_ && produced_ > *expected_) co_return fail(unreadable());
        if (!out->empty()) co_return *out;
        continue;
      }
      if (inner_done_) {
        // A cut frame or a size other than recorded is damage, not an end.
        if (!decoder_.at_frame_end() || (expected_ && produced_ != *expected_)) co_return fail(unreadable());
        co_return std::span<const char>{};
      }
      // The inner chunk stays valid until the next inner read, which only
      // happens once the decoder has consumed all of it.
      auto chunk = co_await inner_->read();
      if (!chunk) co_return fail(chunk.error());
      if (chunk->empty())
        inner_done_ = true;
      else
        decoder_.feed(*chunk);
    }
  }

 private:
  error_code fail(error_code ec) {
    failed_ = true;
    return ec;
  }

  std::unique_ptr<BodyReader> inner_;
  compress::ZstdDecompressor decoder_;
  std::optional<std::uint64_t> expected_;
  std::uint64_t produced_ = 0;
  bool inner_done_ = false;
  bool failed_ = false;
};

class CompressingWriter final : public BodyWriter {
 public:
  CompressingWriter(std::shared_ptr<Storage> inner, std::shared_ptr<Counters> counters, CacheKey key,
                    std::unique_ptr<BodyWriter> writer, int level, std::optional<std::uint64_t> length,
                    std::uint64_t token)
      : inner_(std::move(inner)),
        counters_(std::move(counters)),
        key_(std::move(key)),
        writer_(std::move(writer)),
        encoder_(level, length),
        length_(length),
        token_(token) {}

  asio::awaitable<Result<void>> write(std::span<const char> chunk) override {
    if (failed_) co_return unreadable();
    // More bytes than the recorded raw size would make the entry lie.
    if (length_ && raw_ + chunk.size() > *length_) co_return fail(unreadable());
    raw_ += chunk.size();
    out_.clear();
    if (auto r = encoder_.compress(chunk, out_); !r) co_return fail(r.error());
    co_return co_await flush();
  }

  asio::awaitable<Result<void>> commit() override {
    if (failed_) co_return unreadable();
    failed_ = true;  // a writer publishes once
    if (length_ && raw_ != *length_) co_return unreadable();
    out_.clear();
    if (auto r = encoder_.finish(out_); !r) co_return r.error();
    if (auto r = co_await flush(); !r) co_return r.error();
    // Counted before the inner commit publishes the entry, so a scrape taken
    // after the first HIT already includes it; taken back if the commit fails.
    counters_->raw_bytes.fetch_add(raw_, std::memory_order_relaxed);
    counters_->compressed_bytes.fetch_add(compressed_, std::memory_order_relaxed);
    auto committed = co_await writer_->commit();
    if (!committed) {
      counters_->raw_bytes.fetch_sub(raw_, std::memory_order_relaxed);
      counters_->compressed_bytes.fetch_sub(compressed_, std::memory_order_relaxed);
      co_return committed.error();
    }
    writer_.reset();
    if (!length_) {
      if (auto r = co_await publish_size(); !r) co_return r.error();
    }
    co_return Result<void>{};
  }

 private:
  error_code fail(error_code ec) {
    failed_ = true;
    return ec;
  }

  asio::awaitable<Result<void>> flush() {
    if (out_.empty()) co_return Result<void>{};
    compressed_ += out_.size();
    if (auto r = co_await writer_->write(std::span<const char>(out_.data(), out_.size())); !r)
      co_return fail(r.error());
    co_return Result<void>{};
  }

  // Publishes the real size, only on our own entry.
  asio::awaitable<Result<void>> publish_size() {
    auto hit = co_await inner_->get(key_);
    if (!hit) co_return hit.error();
    if (!*hit) co_return Result<void>{};  // already evicted or removed
    auto meta = std::move((*hit)->meta);
    (*hit)->body.reset();
    if (meta.internal.raw_size || meta.internal.pending_writer != token_)
      co_return Result<void>{};  // replaced by another writer: theirs stands
    meta.internal.raw_size = raw_;
    meta.internal.pending_writer = 0;
    co_return co_await inner_->update_meta(key_, std::move(meta));
  }

  std::shared_ptr<Storage> inner_;
  std::shared_ptr<Counters> counters_;
  CacheKey key_;
  std::unique_ptr<BodyWriter> writer_;
  compress::ZstdCompressor encoder_;
  std::optional<std::uint64_t> length_;
  std::uint64_t token_;
  std::string out_;  // compressed output of the current call, bounded by zstd's block
  std::uint64_t raw_ = 0;
  std::uint64_t compressed_ = 0;
  bool failed_ = false;
};

class CompressedStore final : public Storage {
 public:
  CompressedStore(std::shared_ptr<Storage> inner, const config::StorageConfig& cfg)
      : inner_(std::move(inner)),
        level_(cfg.compression_level),
        min_size_(cfg.compression_min_size),
        types_(cfg.compression_types),
        counters_(std::make_shared<Counters>()) {}

  asio::awaitable<Result<std::optional<Hit>>> get(const CacheKey& key) override {
    auto hit = co_await inner_->get(key);
    if (!hit || !*hit) co_return hit;
    auto& internal = (*hit)->meta.internal;
    if (internal.encoding == BodyEncoding::identity) co_return hit;  // stored as it came
    auto raw_size = internal.raw_size;
    if (!raw_size) co_return std::optional<Hit>{};  // not published yet
    as_stored_as_it_came(internal);
    (*hit)->meta.body_size = *raw_size;
    (*hit)->body = std::make_unique<DecompressingReader>(std::move((*hit)->body), *raw_size);
    co_return hit;
  }

  // As get(), but a pending raw size is expected: the writer has not finished.
  asio::awaitable<Result<std::optional<Hit>>> get_in_progress(const CacheKey& key) override {
    auto hit = co_await inner_->get_in_progress(key);
    if (!hit || !*hit) co_return hit;
    auto& internal = (*hit)->meta.internal;
    if (internal.encoding == BodyEncoding::identity) co_return hit;
    auto raw_size = internal.raw_size;
    as_stored_as_it_came(internal);
    (*hit)->body = std::make_unique<DecompressingReader>(std::move((*hit)->body), raw_size);
    co_return hit;
  }

  asio::awaitable<Result<std::unique_ptr<BodyWriter>>> put(const CacheKey& key, EntryMeta meta) override {
    as_stored_as_it_came(meta.internal);
    std::optional<std::uint64_t> length;
    if (auto value = meta.headers.get("content-length")) length = parse_size(*value);
    if (!should_compress(meta.headers, length)) co_return co_await inner_->put(key, std::move(meta));

    std::uint64_t token = 0;
    meta.internal.encoding = BodyEncoding::zstd;
    if (length) {
      meta.internal.raw_size = *length;
    } else {
      token = next_token();
      meta.internal.pending_writer = token;
    }
    auto writer = co_await inner_->put(key, std::move(meta));
    if (!writer) co_return writer.error();
    co_return std::unique_ptr<BodyWriter>(std::make_unique<CompressingWriter>(
        inner_, counters_, key, std::move(*writer), level_, length, token));
  }

  asio::awaitable<Result<void>> update_meta(const CacheKey& key, EntryMeta meta) override {
    auto hit = co_await inner_->get(key);
    if (!hit) co_return hit.error();
    if (!*hit) co_return Result<void>{};  // nothing to update, as for any backend
    const auto& stored = (*hit)->meta.internal;
    meta.internal.encoding = stored.encoding;
    meta.internal.raw_size = stored.raw_size;
    meta.internal.pending_writer = stored.pending_writer;
    hit->reset();  // release the inner reader before writing
    co_return co_await inner_->update_meta(key, std::move(meta));
  }

  // Encoding facts aside, metadata passes through untouched: tags and
  // stale marks are the inner store's to match and keep.
  asio::awaitable<Result<std::uint64_t>> purge(const PurgeRequest& request) override {
    co_return co_await inner_->purge(request);
  }

  asio::awaitable<Result<bool>> remove(const CacheKey& key) override {
    co_return co_await inner_->remove(key);
  }

  Stats stats() const override {
    auto s = inner_->stats();
    s.raw_bytes += counters_->raw_bytes.load(std::memory_order_relaxed);
    s.compressed_bytes += counters_->compressed_bytes.load(std::memory_order_relaxed);
    return s;
  }

  std::string_view backend_name() const noexcept override { return inner_->backend_name(); }

 private:
  bool should_compress(const http::Headers& headers, std::optional<std::uint64_t> length) const {
    // Already encoded by the origin (gzip, br...): zstd would only add work.
    if (auto ce = headers.get("content-encoding"); ce && !http::iequals(http::trim(*ce), "identity"))
      return false;
    if (length && *length < min_size_) return false;
    return compressible_type(headers, types_);
  }

  std::shared_ptr<Storage> inner_;
  int level_;
  std::uint64_t min_size_;
  std::vector<std::string> types_;
  std::shared_ptr<Counters> counters_;
};

}  // namespace

std::shared_ptr<Storage> make_compressed_store(std::shared_ptr<Storage> inner, const config::StorageConfig& cfg) {
  return std::make_shared<CompressedStore>(std::move(inner), cfg);
}

}  // namespace relay::storage
