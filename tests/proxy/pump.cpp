// pump(): one body to a client, a store and a fill's followers, and what
// each of them failing means (pump.hpp). Scripted sources and recording
// sinks: no sockets.
#include <doctest/doctest.h>

#include "relay/proxy/key_session.hpp"
#include "relay/proxy/pump.hpp"
#include "support.hpp"

using namespace relay;
using namespace relay::proxy;
using namespace relay::test;

TEST_CASE("pump: every byte reaches client, store and followers; the store commits before the client finishes") {
  boost::asio::io_context io;
  KeySessions sessions(CoalescerSettings{}, nullptr, nullptr);
  auto permit = *sessions.try_fill("k");
  permit->publish_head({200, "OK", {}}, 9, "");
  ScriptedSource source({"abc", "def", "ghi"});
  RecordingSink client;
  RecordingWriter store;
  auto result = run(io, pump(source, PumpTargets{.client = &client, .store = &store, .fill = &permit.fill()}));
  CHECK(result.complete);
  CHECK(result.stored);
  CHECK(result.bytes == 9);
  CHECK(client.body == "abcdefghi");
  CHECK(client.finished);
  CHECK(store.bytes == "abcdefghi");
  CHECK(store.committed);
  CHECK(permit->state() == FillState::Complete);
}

TEST_CASE("pump: with defer_commit the client finishes first; commit and fill are left to the caller") {
  boost::asio::io_context io;
  KeySessions sessions(CoalescerSettings{}, nullptr, nullptr);
  auto permit = *sessions.try_fill("k");
  permit->publish_head({200, "OK", {}}, 6, "");
  ScriptedSource source({"abc", "def"});
  RecordingSink client;
  RecordingWriter store;
  auto result = run(io, pump(source, PumpTargets{.client = &client,
                                                 .store = &store,
                                                 .fill = &permit.fill(),
                                                 .defer_commit = true}));
  CHECK(result.complete);
  CHECK(result.commit_deferred);
  CHECK_FALSE(result.stored);
  CHECK(client.finished);
  CHECK(store.bytes == "abcdef");
  CHECK_FALSE(store.committed);
  CHECK(permit->state() == FillState::Streaming);  // followers wait for the commit
}

TEST_CASE("pump: defer_commit does not apply once the client is gone: the store commits as usual") {
  boost::asio::io_context io;
  ScriptedSource source({"abc", "def", "ghi"});
  RecordingSink client;
  client.accept_bytes = 3;
  RecordingWriter store;
  auto result =
      run(io, pump(source, PumpTargets{.client = &client, .store = &store, .defer_commit = true}));
  CHECK(result.complete);
  CHECK(result.client_gone);
  CHECK_FALSE(result.commit_deferred);
  CHECK(result.stored);
  CHECK(store.committed);
}

TEST_CASE("pump: a store that fails is dropped; the client still gets everything") {
  boost::asio::io_context io;
  ScriptedSource source({"abc", "def", "ghi"});
  RecordingSink client;
  RecordingWriter store;
  store.limit = 4;  // too large after all
  auto result = run(io, pump(source, PumpTargets{.client = &client, .store = &store}));
  CHECK(result.complete);
  CHECK_FALSE(result.stored);
  CHECK(result.store_error == Errc::object_too_large);
  CHECK_FALSE(store.committed);
  CHECK(client.body == "abcdefghi");
  CHECK(client.finished);
}

TEST_CASE("pump: a client that leaves stops a body nobody else wants") {
  boost::asio::io_context io;
  ScriptedSource source({"abc", "def", "ghi", "jkl"});
  RecordingSink client;
  client.accept_bytes = 3;
  auto result = run(io, pump(source, PumpTargets{.client = &client}));
  CHECK_FALSE(result.complete);
  CHECK(result.client_gone);
  CHECK(source.reads == 2);  // the origin transfer is dropped at once
}

TEST_CASE("pump: a client that leaves does not stop a body being stored") {
  boost::asio::io_context io;
  ScriptedSource source({"abc", "def", "ghi"});
  RecordingSink client;
  client.accept_bytes = 3;
  RecordingWriter store;
  auto result = run(io, pump(source, PumpTargets{.client = &client, .store = &store}));
  CHECK(result.complete);
  CHECK(result.client_gone);
  CHECK(result.stored);
  CHECK(store.bytes == "abcdefghi");
  CHECK_FALSE(client.finished);
}

TEST_CASE("pump: without a client the fill runs exactly as long as someone follows it") {
  boost::asio::io_context io;
  KeySessions sessions(CoalescerSettings{}, nullptr, nullptr);
  auto permit = *sessions.try_fill("k");
  permit->publish_head({200, "OK", {}}, std::nullopt, "");
  ScriptedSource source({"abc", "def"});
  auto result = run(io, pump(source, PumpTargets{.fill = &permit.fill()}));
  CHECK_FALSE(result.complete);
  CHECK(source.reads == 0);
  CHECK(permit->state() == FillState::Failed);
}

TEST_CASE("pump: a failing source fails the fill, abandons the store and aborts the client") {
  boost::asio::io_context io;
  KeySessions sessions(CoalescerSettings{}, nullptr, nullptr);
  auto permit = *sessions.try_fill("k");
  permit->publish_head({200, "OK", {}}, 100, "");
  ScriptedSource source({"abc"}, Errc::upstream_reset);
  RecordingSink client;
  RecordingWriter store;
  auto result = run(io, pump(source, PumpTargets{.client = &client, .store = &store, .fill = &permit.fill()}));
  CHECK_FALSE(result.complete);
  CHECK(result.source_error == Errc::upstream_reset);
  CHECK_FALSE(store.committed);
  CHECK(client.aborted);
  CHECK_FALSE(client.finished);
  CHECK(permit->state() == FillState::Failed);
}

TEST_CASE("pump: a range window gets only its bytes and stops reading past it") {
  boost::asio::io_context io;
  ScriptedSource source({"0123", "4567", "89ab", "cdef"});
  RecordingSink client;
  auto result = run(io, pump(source, PumpTargets{.client = &client, .window_begin = 3, .window_end = 9}));
  CHECK(client.body == "345678");
  CHECK(client.finished);
  CHECK(source.reads == 3);
  CHECK_FALSE(result.client_gone);
}

TEST_CASE("pump: a source that starts past byte 0 (a reader that skipped) is placed right in the window") {
  boost::asio::io_context io;
  ScriptedSource source({"89ab", "cdef"});
  RecordingSink client;
  run(io, pump(source, PumpTargets{.client = &client, .source_offset = 8, .window_begin = 10, .window_end = 16}));
  CHECK(client.body == "abcdef");
  CHECK(client.finished);
}

TEST_CASE("pump: a stored body shorter than its window aborts the client") {
  boost::asio::io_context io;
  ScriptedSource source({"0123"});
  RecordingSink client;
  auto result = run(io, pump(source, PumpTargets{.client = &client, .window_end = 8}));
  CHECK_FALSE(result.complete);
  CHECK(client.aborted);
  CHECK_FALSE(client.finished);
}

TEST_CASE("pump: a primed source yields its read-ahead chunk first") {
  boost::asio::io_context io;
  ScriptedSource rest({"def"});
  std::string first = "abc";
  PrimedSource source(std::span<const char>(first.data(), first.size()), rest);
  RecordingSink client;
  run(io, pump(source, PumpTargets{.client = &client}));
  CHECK(client.body == "abcdef");
}

TEST_CASE("pump: followers read the body from the store's file when it keeps one, and on when it fails") {
  for (const std::size_t store_limit : {std::string::npos, std::size_t{6}}) {
    CAPTURE(store_limit);
    boost::asio::io_context io;
    CoalescerSettings settings;
    settings.spool_memory = 4;  // the rest of the body is past the spool's memory
    KeySessions sessions(settings, nullptr, nullptr);
    auto permit = *sessions.try_fill("k");
    permit->publish_head({200, "OK", {}}, 12, "");
    ScriptedSource source({"abcd", "efgh", "ijkl"});
    RecordingSink client;
    RecordingWriter store;
    store.keep_in_file();
    store.limit = store_limit;
    auto result = run(io, pump(source, PumpTargets{.client = &client, .store = &store, .fill = &permit.fill()}));
    CHECK(result.complete);
    CHECK(client.body == "abcdefghijkl");
    std::string followed, buffer;
    std::shared_ptr<const std::string> hold;
    while (followed.size() < 12) {
      auto got = permit->read(followed.size(), buffer, hold);
      REQUIRE_FALSE(got.data.empty());
      followed.append(got.data.data(), got.data.size());
    }
    CHECK(followed == "abcdefghijkl");
  }
}
