// Streaming zstd, chunk by chunk, for storage's compression at rest.
// ZstdCompressor turns a body of unknown length into one zstd frame;
// ZstdDecompressor turns frames back into bytes in bounded output pieces so
// memory never depends on the object size. Failures are values: corrupt or
// truncated input is Errc::storage_unavailable, like any unreadable entry.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "relay/util/result.hpp"

// zstd's own context types, so users don't have to include <zstd.h>.
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace relay::compress {

class ZstdCompressor {
 public:
  // level is clamped to zstd's range. With pledged_size the frame records the
  // raw size and finish() fails unless exactly that many bytes were fed.
  explicit ZstdCompressor(int level, std::optional<std::uint64_t> pledged_size = std::nullopt);

  // Compresses input, appending whatever output zstd emits to out (often
  // nothing: zstd keeps up to one block, 128 KiB, before emitting it).
  Result<void> compress(std::span<const char> input, std::string& out);
  // Ends the frame, appending the remaining output to out.
  Result<void> finish(std::string& out);

 private:
  struct Free {
    void operator()(ZSTD_CCtx_s* ctx) const noexcept;
  };
  std::unique_ptr<ZSTD_CCtx_s, Free> ctx_;
  std::vector<char> buffer_;  // ZSTD_CStreamOutSize() bytes, reused
};

class ZstdDecompressor {
 public:
  // window_log_max bounds the memory a (possibly corrupt) frame can ask for;
  // 24 (16 MiB) covers every level up to 19, which is all storage writes.
  explicit ZstdDecompressor(int window_log_max = 24);

  // Hands over the next compressed chunk. It must stay valid until
  // needs_input() is true again; call only when needs_input() is true.
  void feed(std::span<const char> input);
  // True when everything fed has been consumed and no output is pending.
  bool needs_input() const noexcept { return pos_ >= input_.size() && !flush_pending_; }
  // Decompresses from the fed input into an internal buffer of
  // ZSTD_DStreamOutSize() bytes. The span (possibly empty while zstd reads
  // frame headers) stays valid until the next call.
  Result<std::span<const char>> next();
  // True when the input so far ends exactly at the end of a frame: after the
  // last chunk this tells a complete body from a truncated one.
  bool at_frame_end() const noexcept { return frame_done_ && needs_input(); }

 private:
  struct Free {
    void operator()(ZSTD_DCtx_s* ctx) const noexcept;
  };
  std::unique_ptr<ZSTD_DCtx_s, Free> ctx_;
  std::vector<char> buffer_;
  std::span<const char> input_;
  std::size_t pos_ = 0;
  bool flush_pending_ = false;  // the last call filled the buffer: more may be waiting
  bool frame_done_ = false;
};

}  // namespace relay::compress
