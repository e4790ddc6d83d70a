// The schema's two tables: kFields (one row per key of the sections, in the
// order --print-config prints them) and kRuleFields (one [[cache.rules]]
// entry), and the schema.hpp functions that read them. A new key is a
// default in config.hpp plus one row here; the row also names its env variable.
#include "fields.hpp"

#include "relay/config/rate_limit.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>

namespace relay::config {
namespace detail {
namespace {

using C = Config;
using K = Kind;
constexpr Field kFields[] = {
    row<K::String, &C::server, &ServerConfig::listen>("server.listen"),
    row<K::Int, &C::server, &ServerConfig::threads>("server.threads"),
    row<K::Size, &C::server, &ServerConfig::max_header_size>("server.max_header_size"),
    row<K::Size, &C::server, &ServerConfig::max_url_length>("server.max_url_length"),
    row<K::Duration, &C::server, &ServerConfig::header_timeout>("server.header_timeout"),
    row<K::Duration, &C::server, &ServerConfig::idle_timeout>("server.idle_timeout"),
    row<K::Duration, &C::server, &ServerConfig::body_timeout>("server.body_timeout"),
    row<K::Size, &C::server, &ServerConfig::min_body_rate>("server.min_body_rate"),
    row<K::Duration, &C::server, &ServerConfig::shutdown_grace>("server.shutdown_grace"),
    row<K::Int, &C::server, &ServerConfig::max_connections>("server.max_connections"),
    row<K::StringList, &C::server, &ServerConfig::trusted_proxies>("server.trusted_proxies"),
    row<K::Bool, &C::server, &ServerConfig::forwarded>("server.forwarded"),
    row<K::Size, &C::server, &ServerConfig::max_body_size>("server.max_body_size"),
    row<K::Number, &C::server, &ServerConfig::rate_limit, &RateLimitConfig::rate>("server.rate_limit.rate"),
    row<K::Number, &C::server, &ServerConfig::rate_limit, &RateLimitConfig::burst>("server.rate_limit.burst"),
    row<K::Duration, &C::server, &ServerConfig::rate_limit, &RateLimitConfig::per>("server.rate_limit.per"),
    // One key sets two members (the kind and, for "header:<Name>", the field).
    Field{"server.rate_limit.key", K::String,
          [](C& c, Value&& v) { parse_rate_limit_key(std::get<std::string>(v), c.server.rate_limit); },
          [](const C& c) -> std::optional<Value> { return Value(rate_limit_key_text(c.server.rate_limit)); },
          true},
    row<K::Bool, &C::server, &ServerConfig::rate_limit, &RateLimitConfig::fleet>("server.rate_limit.fleet"),
    row<K::Bool, &C::server, &ServerConfig::rate_limit, &RateLimitConfig::exempt_hits>(
        "server.rate_limit.exempt_hits"),
    row<K::StringList, &C::server, &ServerConfig::upgrades>("server.upgrades"),
    row<K::Duration, &C::server, &ServerConfig::tunnel_idle_timeout>("server.tunnel_idle_timeout"),
    row<K::Bool, &C::server, &ServerConfig::h2c>("server.h2c"),
    // server.tls.certificates (inline tables) is read by front_door_loader.cpp.
    row<K::String, &C::server, &ServerConfig::tls, &ServerTls::listen>("server.tls.listen"),
    row<K::String, &C::server, &ServerConfig::tls, &ServerTls::min_version>("server.tls.min_version"),
    row<K::String, &C::server, &ServerConfig::tls, &ServerTls::ciphers>("server.tls.ciphers"),
    row<K::Bool, &C::server, &ServerConfig::tls, &ServerTls::http2>("server.tls.http2"),
    row<K::Duration, &C::server, &ServerConfig::tls, &ServerTls::handshake_timeout>("server.tls.handshake_timeout"),
    row<K::Bool, &C::server, &ServerConfig::tls, &ServerTls::session_tickets>("server.tls.session_tickets"),
    row<K::Duration, &C::server, &ServerConfig::tls, &ServerTls::ticket_key_rotation>(
        "server.tls.ticket_key_rotation"),
    row<K::Int, &C::server, &ServerConfig::http2, &Http2Config::max_concurrent_streams>(
        "server.http2.max_concurrent_streams"),
    row<K::Size, &C::server, &ServerConfig::http2, &Http2Config::initial_window_size>(
        "server.http2.initial_window_size"),
    row<K::Duration, &C::server, &ServerConfig::http2, &Http2Config::ping_interval>("server.http2.ping_interval"),
    row<K::Duration, &C::server, &ServerConfig::http2, &Http2Config::ping_timeout>("server.http2.ping_timeout"),
    row<K::Int, &C::server, &ServerConfig::http2, &Http2Config::max_resets_burst>("server.http2.max_resets_burst"),
    row<K::Int, &C::server, &ServerConfig::http2, &Http2Config::max_resets_per_second>(
        "server.http2.max_resets_per_second"),
    row<K::Int, &C::server, &ServerConfig::http2, &Http2Config::max_continuations>(
        "server.http2.max_continuations"),
    row<K::String, &C::upstream, &UpstreamConfig::url>("upstream.url"),
    row<K::Duration, &C::upstream, &UpstreamConfig::connect_timeout>("upstream.connect_timeout"),
    row<K::Duration, &C::upstream, &UpstreamConfig::first_byte_timeout>("upstream.first_byte_timeout"),
    row<K::Duration, &C::upstream, &UpstreamConfig::idle_timeout>("upstream.idle_timeout"),
    row<K::Int, &C::upstream, &UpstreamConfig::max_connections>("upstream.max_connections"),
    row<K::Duration, &C::upstream, &UpstreamConfig::queue_timeout>("upstream.queue_timeout"),
    row<K::Bool, &C::upstream, &UpstreamConfig::preserve_host>("upstream.preserve_host"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::ca_file>("upstream.tls.ca_file"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::ca_path>("upstream.tls.ca_path"),
    row<K::Bool, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::verify>("upstream.tls.verify"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::sni>("upstream.tls.sni"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::client_cert>("upstream.tls.client_cert"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::client_key>("upstream.tls.client_key"),
    row<K::String, &C::upstream, &UpstreamConfig::tls, &UpstreamTls::min_version>("upstream.tls.min_version"),
    row<K::Duration, &C::cache, &CacheConfig::default_ttl>("cache.default_ttl"),
    row<K::Size, &C::cache, &CacheConfig::max_object_size>("cache.max_object_size"),
    row<K::Duration, &C::cache, &CacheConfig::heuristic_max>("cache.heuristic_max"),
    row<K::Duration, &C::cache, &CacheConfig::stale_while_revalidate>("cache.stale_while_revalidate"),
    row<K::Duration, &C::cache, &CacheConfig::stale_if_error>("cache.stale_if_error"),
    row<K::StringList, &C::cache, &CacheConfig::targeted_fields>("cache.targeted_fields"),
    row<K::Bool, &C::cache, &CacheConfig::strip_targeted_fields>("cache.strip_targeted_fields"),
    row<K::String, &C::cache, &CacheConfig::status_name>("cache.status_name"),
    row<K::String, &C::cache, &CacheConfig::set_cookie>("cache.set_cookie"),
    row<K::Bool, &C::cache, &CacheConfig::honour_client_no_cache>("cache.honour_client_no_cache"),
    row<K::Duration, &C::cache, &CacheConfig::negative_ttl>("cache.negative_ttl"),
    row<K::StringList, &C::cache, &CacheConfig::strip_request_headers>("cache.strip_request_headers"),
    row<K::Bool, &C::cache, &CacheConfig::key, &CacheKeyConfig::sort_query>("cache.key.sort_query"),
    row<K::StringList, &C::cache, &CacheConfig::key, &CacheKeyConfig::ignore_params>(
        "cache.key.ignore_params"),
    row<K::StringList, &C::cache, &CacheConfig::key, &CacheKeyConfig::headers>("cache.key.headers"),
    row<K::Bool, &C::cache, &CacheConfig::key, &CacheKeyConfig::scheme>("cache.key.scheme"),
    row<K::Bool, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::enabled>("cache.coalesce.enabled"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::follower_timeout>(
        "cache.coalesce.follower_timeout"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::max_fill_age>(
        "cache.coalesce.max_fill_age"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::hit_for_miss>(
        "cache.coalesce.hit_for_miss"),
    row<K::Duration, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::lock_ttl>("cache.coalesce.lock_ttl"),
    row<K::Bool, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::distributed>(
        "cache.coalesce.distributed"),
    row<K::String, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::degraded>("cache.coalesce.degraded"),
    row<K::String, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::spool_dir>("cache.coalesce.spool_dir"),
    row<K::Size, &C::cache, &CacheConfig::coalesce, &CoalesceConfig::spool_memory>(
        "cache.coalesce.spool_memory"),
    row<K::Bool, &C::cache, &CacheConfig::refresh_ahead, &RefreshAheadConfig::enabled>("cache.refresh_ahead.enabled"),
    row<K::Int, &C::cache, &CacheConfig::refresh_ahead, &RefreshAheadConfig::min_hits>("cache.refresh_ahead.min_hits"),
    row<K::Number, &C::cache, &CacheConfig::refresh_ahead, &RefreshAheadConfig::at>("cache.refresh_ahead.at"),
    row<K::Int, &C::cache, &CacheConfig::refresh_ahead, &RefreshAheadConfig::max_concurrent>(
        "cache.refresh_ahead.max_concurrent"),
    row<K::Int, &C::cache, &CacheConfig::refresh_ahead, &RefreshAheadConfig::max_tracked>(
        "cache.refresh_ahead.max_tracked"),
    row<K::String, &C::storage, &StorageConfig::backend>("storage.backend"),
    row<K::Size, &C::storage, &StorageConfig::max_size>("storage.max_size"),
    row<K::String, &C::storage, &StorageConfig::eviction>("storage.eviction"),
    row<K::String, &C::storage, &StorageConfig::tier>("storage.tier"),
    row<K::Duration, &C::storage, &StorageConfig::keep_time>("storage.keep_time"),
    row<K::String, &C::storage, &StorageConfig::compression>("storage.compression"),
    row<K::Int, &C::storage, &StorageConfig::compression_level>("storage.compression_level"),
    row<K::Size, &C::storage, &StorageConfig::compression_min_size>("storage.compression_min_size"),
    row<K::StringList, &C::storage, &StorageConfig::compression_types>("storage.compression_types"),
    row<K::String, &C::storage, &StorageConfig::disk, &DiskStorageConfig::path>("storage.disk.path"),
    row<K::Size, &C::storage, &StorageConfig::disk, &DiskStorageConfig::max_size>("storage.disk.max_size"),
    row<K::Size, &C::storage, &StorageConfig::disk, &DiskStorageConfig::min_free_space>(
        "storage.disk.min_free_space"),
    row<K::Int, &C::storage, &StorageConfig::disk, &DiskStorageConfig::io_threads>("storage.disk.io_threads"),
    row<K::String, &C::storage, &StorageConfig::disk, &DiskStorageConfig::verify>("storage.disk.verify"),
    row<K::String, &C::storage, &StorageConfig::redis, &RedisStorageConfig::url>("storage.redis.url"),
    row<K::String, &C::storage, &StorageConfig::redis, &RedisStorageConfig::key_prefix>(
        "storage.redis.key_prefix"),
    row<K::Duration, &C::storage, &StorageConfig::redis, &RedisStorageConfig::connect_timeout>(
        "storage.redis.connect_timeout"),
    row<K::Duration, &C::storage, &StorageConfig::redis, &RedisStorageConfig::command_timeout>(
        "storage.redis.command_timeout"),
    row<K::Size, &C::storage, &StorageConfig::redis, &RedisStorageConfig::chunk_size>(
        "storage.redis.chunk_size"),
    row<K::StringList, &C::storage, &StorageConfig::redis, &RedisStorageConfig::sentinels>(
        "storage.redis.sentinels"),
    row<K::String, &C::storage, &StorageConfig::redis, &RedisStorageConfig::master_name>(
        "storage.redis.master_name"),
    row<K::Duration, &C::maintenance, &MaintenanceConfig::interval>("maintenance.interval"),
    row<K::String, &C::maintenance, &MaintenanceConfig::lock>("maintenance.lock"),
    row<K::String, &C::admin, &AdminConfig::listen>("admin.listen"),
    row<K::String, &C::admin, &AdminConfig::token>("admin.token"),
    row<K::String, &C::admin, &AdminConfig::token_file>("admin.token_file"),
    row<K::StringList, &C::admin, &AdminConfig::allow>("admin.allow"),
    row<K::StringList, &C::purge, &PurgeConfig::allow>("purge.allow"),
    row<K::StringList, &C::purge, &PurgeConfig::tag_headers>("purge.tag_headers"),
    row<K::Bool, &C::purge, &PurgeConfig::forward_tag_headers>("purge.forward_tag_headers"),
    row<K::Bool, &C::metrics, &MetricsConfig::enabled>("metrics.enabled"),
    row<K::String, &C::metrics, &MetricsConfig::path>("metrics.path"),
    row<K::String, &C::metrics, &MetricsConfig::listen>("metrics.listen"),
    row<K::String, &C::log, &LogConfig::level>("log.level"),
    row<K::String, &C::log, &LogConfig::format>("log.format"),
    row<K::String, &C::log, &LogConfig::access_log>("log.access_log"),
};

// One [[cache.rules]] entry; the paths are relative to the rule.
using R = CacheRule;
constexpr FieldOf<CacheRule> kRuleFields[] = {
    row<K::String, &R::path>("path"),
    row<K::String, &R::name>("name"),
    row<K::Duration, &R::ttl>("ttl"),
    row<K::Duration, &R::default_ttl>("default_ttl"),
    row<K::Duration, &R::stale_while_revalidate>("stale_while_revalidate"),
    row<K::Duration, &R::stale_if_error>("stale_if_error"),
    row<K::Bool, &R::bypass>("bypass"),
    row<K::StringList, &R::ignore_params>("ignore_params"),
    row<K::StringList, &R::key_headers>("key_headers"),
    row<K::Bool, &R::key_scheme>("key_scheme"),
    row<K::Bool, &R::sort_query>("sort_query"),
    row<K::String, &R::set_cookie>("set_cookie"),
    row<K::StringList, &R::strip_request_headers>("strip_request_headers"),
    row<K::StringList, &R::status>("status"),
    row<K::Duration, &R::negative_ttl>("negative_ttl"),
    row<K::Bool, &R::immutable>("immutable"),
    row<K::Bool, &R::honour_client_no_cache>("honour_client_no_cache"),
    row<K::Duration, &R::heuristic_max>("heuristic_max"),
    row<K::Size, &R::max_object_size>("max_object_size"),
    row<K::StringList, &R::targeted_fields>("targeted_fields"),
    row<K::Bool, &R::coalesce>("coalesce"),
    row<K::Bool, &R::refresh_ahead>("refresh_ahead"),
};

}  // namespace

std::span<const Field> fields() { return kFields; }
std::span<const RuleField> rule_fields() { return kRuleFields; }

bool is_section(std::string_view path) {
  return std::any_of(std::begin(kFields), std::end(kFields), [&](const Field& f) {
    return f.path.size() > path.size() && f.path.starts_with(path) && f.path[path.size()] == '.';
  });
}

}  // namespace detail

using detail::kRules;

std::vector<KeyValue> key_values(const Config& cfg) {
  std::vector<KeyValue> out;
  for (const auto& f : detail::fields()) out.push_back({f.path, f.kind, *f.get(cfg)});
  return out;
}

std::vector<KeyValue> key_values(const CacheRule& rule) {
  std::vector<KeyValue> out;
  for (const auto& f : detail::rule_fields())
    if (auto v = f.get(rule)) out.push_back({f.path, f.kind, std::move(*v)});
  return out;
}

std::string_view rules_path() { return kRules; }

std::string rule_source_key(std::size_t index_from_0, std::string_view key) {
  std::string out = std::string(kRules) + "[" + std::to_string(index_from_0 + 1) + "]";
  if (!key.empty()) out.append(".").append(key);
  return out;
}

std::string describe(const Source& s) {
  switch (s.from) {
    case Source::From::File: return s.name + ":" + std::to_string(s.line);
    case Source::From::Environment: return "environment " + s.name;
    case Source::From::Default: break;
  }
  return "default";
}

Source LoadResult::source_of(std::string_view path) const {
  const auto it = sources.find(path);
  return it == sources.end() ? Source{} : it->second;
}


std::string env_variable(std::string_view path) {
  std::string name = "RELAY_";
  for (char ch : path)
    name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

}  // namespace relay::config
