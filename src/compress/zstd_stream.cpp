// ZSTD_CStream / ZSTD_DStream behind RAII and Result (see zstd_stream.hpp).
// Both sides reuse one buffer of zstd's recommended size, so a call's output
// is bounded whatever the input.
#include "relay/compress/zstd_stream.hpp"

#include <zstd.h>

#include <algorithm>
#include <new>

namespace relay::compress {
namespace {

error_code corrupt() { return make_error_code(Errc::storage_unavailable); }

}  // namespace

void ZstdCompressor::Free::operator()(ZSTD_CCtx_s* ctx) const noexcept { ZSTD_freeCCtx(ctx); }
void ZstdDecompressor::Free::operator()(ZSTD_DCtx_s* ctx) const noexcept { ZSTD_freeDCtx(ctx); }

ZstdCompressor::ZstdCompressor(int level, std::optional<std::uint64_t> pledged_size)
    : ctx_(ZSTD_createCCtx()), buffer_(ZSTD_CStreamOutSize()) {
  if (!ctx_) throw std::bad_alloc();
  level = std::clamp(level, ZSTD_minCLevel(), ZSTD_maxCLevel());
  // Both only fail for out-of-range values, which clamp and the optional rule out.
  ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, level);
  // The checksum lets a read notice bit rot in the stored bytes themselves.
  ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_checksumFlag, 1);
  if (pledged_size) ZSTD_CCtx_setPledgedSrcSize(ctx_.get(), *pledged_size);
}

Result<void> ZstdCompressor::compress(std::span<const char> input, std::string& out) {
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buffer_.data(), buffer_.size(), 0};
    auto ret = ZSTD_compressStream2(ctx_.get(), &o, &in, ZSTD_e_continue);
    if (ZSTD_isError(ret)) return corrupt();
    out.append(buffer_.data(), o.pos);
  }
  return {};
}

Result<void> ZstdCompressor::finish(std::string& out) {
  ZSTD_inBuffer in{nullptr, 0, 0};
  for (;;) {
    ZSTD_outBuffer o{buffer_.data(), buffer_.size(), 0};
    auto remaining = ZSTD_compressStream2(ctx_.get(), &o, &in, ZSTD_e_end);
    if (ZSTD_isError(remaining)) return corrupt();  // e.g. fewer bytes than pledged
    out.append(buffer_.data(), o.pos);
    if (remaining == 0) return {};
  }
}

ZstdDecompressor::ZstdDecompressor(int window_log_max)
    : ctx_(ZSTD_createDCtx()), buffer_(ZSTD_DStreamOutSize()) {
  if (!ctx_) throw std::bad_alloc();
  ZSTD_DCtx_setParameter(ctx_.get(), ZSTD_d_windowLogMax, window_log_max);
}

void ZstdDecompressor::feed(std::span<const char> input) {
  input_ = input;
  pos_ = 0;
}

Result<std::span<const char>> ZstdDecompressor::next() {
  if (needs_input()) return std::span<const char>{};
  ZSTD_inBuffer in{input_.data(), input_.size(), pos_};
  ZSTD_outBuffer o{buffer_.data(), buffer_.size(), 0};
  auto ret = ZSTD_decompressStream(ctx_.get(), &o, &in);
  if (ZSTD_isError(ret)) return corrupt();
  // With input left and room for output zstd always moves; if it did not,
  // calling again would spin forever.
  bool had_input = pos_ < input_.size();
  if (had_input && in.pos == pos_ && o.pos == 0) return corrupt();
  pos_ = in.pos;
  flush_pending_ = o.pos == o.size;
  frame_done_ = ret == 0;
  return std::span<const char>(buffer_.data(), o.pos);
}

}  // namespace relay::compress
