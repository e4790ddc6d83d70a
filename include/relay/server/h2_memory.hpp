// The allocator HTTP/2 sessions hand nghttp2 (nghttp2_session_server_new3):
// blocks from the calling thread's block pool (util/block_pool.hpp), so a
// request on an open connection costs no malloc inside nghttp2. A session is
// made and used on one event loop; a block freed on another thread is fine.
#pragma once

#include <nghttp2/nghttp2.h>

namespace relay::server {

nghttp2_mem* pooled_nghttp2_mem() noexcept;

}  // namespace relay::server
