// The paragraphs of relay.toml(5), one per key (see key_docs.hpp). Written
// from relay.example.toml's comments and the README, checked against the
// loader: tests/unit/test_key_docs.cpp fails when a schema key has no
// paragraph here or a paragraph names a key the loader does not take.
// Plain ASCII only: the generator escapes it for roff, and roff reads bytes.
#include "relay/config/key_docs.hpp"

#include <algorithm>

namespace relay::config {
namespace {

constexpr KeyDoc kSectionDocs[] = {
    {"server",
     "The client side: the listener, the limits and timeouts of client connections and requests, who may "
     "speak for the client, and protocol upgrades."},
    {"server.rate_limit",
     "A token bucket every request passes through before the cache or the origin is touched (GCRA, one "
     "timestamp per key): rate requests in every period of per, with a bucket of burst. Over it relay answers 429 at once "
     "with Retry-After (it never queues); answers under a limit carry the RateLimit-Policy and RateLimit "
     "fields. A [[routes]] entry's rate_limit replaces it for that route. nginx: limit_req_zone and "
     "limit_req nodelay."},
    {"server.tls",
     "TLS termination: a second listener (say :443 beside :80) whose clients speak HTTPS, HTTP/2 offered by "
     "ALPN. Off while listen is empty. The certificates are read and checked at every load and reload: a "
     "missing file, an expired certificate or a key of another certificate stops the start (or refuses the "
     "reload) naming the key. A reload uses the new certificates for new connections."},
    {"server.http2",
     "Limits of HTTP/2 client connections, over TLS and h2c alike. The header list limit is "
     "server.max_header_size and the idle timeout server.idle_timeout, as for HTTP/1.1. Applied to "
     "connections accepted after a reload."},
    {"upstream",
     "The origin: where requests that are not answered from the cache go, and how relay talks to it. Its "
     "timeouts, connection limit and Host handling are also the defaults of every [[origins]] pool."},
    {"upstream.tls",
     "TLS towards an https:// origin (ignored for http://). The files are read when the configuration is "
     "loaded: a missing or unreadable one, or a PEM file of the wrong kind, stops the start (or the reload) "
     "naming the key. Files replaced in place are read again by new origin connections."},
    {"cache",
     "What is stored and for how long: default and heuristic freshness, stale windows, object size limit, "
     "Set-Cookie handling and the request fields stripped to prevent cache poisoning. A response's "
     "freshness is the first of: a rule's ttl; the origin's explicit freshness (a targeted field, s-maxage, "
     "max-age, Expires); heuristic freshness from Last-Modified (capped by heuristic_max); a rule's "
     "default_ttl; default_ttl."},
    {"cache.key",
     "What makes two requests the same cache entry: the normalised URL (scheme and host lower-cased, "
     "default port dropped, dot segments removed, ignored parameters dropped) plus the values of the "
     "listed request fields."},
    {"cache.coalesce",
     "Request coalescing: one origin fetch per key, shared by the requests that arrive while it runs. The "
     "first request for a missing or stale object fills it; the others follow the fill and receive the body "
     "as it arrives."},
    {"cache.refresh_ahead",
     "Refresh-ahead: a stored response that clients keep asking for is revalidated in the background shortly "
     "before it expires (a conditional request; a 304 freshens it, a new response replaces it), so a popular "
     "object never goes stale or misses while cold ones expire as usual. One refresh per key at a time (through "
     "the coalescer), at most max_concurrent in the process; counted in relay_refresh_ahead_total{result}. Off "
     "by default. Hit counts are kept in memory, per instance."},
    {"cache.rules",
     "Per-path rules, tried in file order: the first whose path matches the request path applies and later "
     "ones are ignored, so put specific paths before general ones. None by default. path is required; every "
     "other key is optional and, when unset, the [cache] or [cache.key] value applies. Rules match the "
     "normalised path (dot segments and %2e removed, unreserved characters decoded, runs of '/' merged), the "
     "same path that is keyed and forwarded, so /static/../api/me is an /api/* request. Rules are written "
     "in the file only: any RELAY_CACHE_RULES* variable is an error. Error messages number rules from 1 "
     "(cache.rules[2].ttl). A [[routes]] entry's cache_rules have the same keys and are tried first."},
    {"storage",
     "Where cached objects live (memory, disk or Redis, or a memory level in front of disk or Redis), how "
     "much room they get, and whether their bodies are compressed at rest. Every storage key is checked "
     "whichever backend is chosen."},
    {"storage.disk",
     "The disk backend (backend = \"disk\" or tier = \"memory+disk\"): files that survive restarts."},
    {"storage.redis",
     "The Redis backend (backend = \"redis\" or tier = \"memory+redis\"), also the server of the fleet "
     "features (distributed coalescing, shared rate limits, the maintenance lock, fleet-wide purges). Several "
     "relay instances with the same url and key_prefix share one cache. Entries expire by themselves (a "
     "Redis TTL of freshness plus stale windows plus keep_time). While Redis is unreachable, requests are "
     "passed through to the origin instead of waiting."},
    {"maintenance",
     "Scheduled cleanup, one instance at a time per scope when a Redis lock guards the rounds."},
    {"admin",
     "relay's own HTTP API on a listener apart from client traffic: GET /healthz, GET /readyz, POST /purge, "
     "POST /reload and, by default, the metrics. Answers are JSON, errors RFC 9457 problem details. Access "
     "is checked against allow, then the token."},
    {"purge",
     "Invalidation: the PURGE method on the client listener (off unless allow names who may use it) and "
     "the response fields that tag stored entries. Purges by prefix, glob, tag or everything go through "
     "POST /purge on the admin listener or relay purge."},
    {"metrics", "Prometheus metrics: whether, at which path and on which listener."},
    {"log", "The diagnostic log (standard error) and the access log."},
};

constexpr KeyDoc kKeyDocs[] = {
    // [server]
    {"server.listen",
     "Address to accept clients on: host:port, or [v6]:port for IPv6, port 1..65535. An empty host or \"*\" "
     "means every IPv4 address, \"localhost\" 127.0.0.1. nginx: listen. Varnish: -a."},
    {"server.threads",
     "Event-loop threads; 0 = one per CPU core. Every thread accepts on the one listening socket and gets an "
     "equal share of the origin connections. nginx: worker_processes (relay uses threads, not processes)."},
    {"server.max_header_size",
     "Largest request head (request line and header fields) accepted; a larger one is answered 431. Also the "
     "limit of an HTTP/2 header list. nginx: large_client_header_buffers. Varnish: http_req_size."},
    {"server.max_url_length", "Longest request-target accepted; a longer one is answered 414."},
    {"server.header_timeout",
     "Time a client gets to send a complete request head; past it relay answers 408. nginx: "
     "client_header_timeout."},
    {"server.idle_timeout",
     "How long an idle keep-alive client connection is kept between requests; also the longest pause "
     "allowed inside a request body (then 408), and how long an HTTP/2 stream's flow-control window may stay "
     "shut. nginx: keepalive_timeout, and client_body_timeout for the pause in a body. Varnish: timeout_idle."},
    {"server.body_timeout",
     "Time a client gets to send a whole request body, counting only the time relay waits for the client, "
     "not for the origin; each min_body_rate bytes received extend it by one second. Past it relay answers "
     "408, or closes the connection if the response has already begun. Apache: RequestReadTimeout body=."},
    {"server.min_body_rate",
     "Bytes that extend body_timeout by one second each, so an upload that keeps at least this rate per "
     "second is never cut whatever its size, while a trickle is. 0 = no extension: body_timeout is then a "
     "hard total. Apache: RequestReadTimeout MinRate."},
    {"server.shutdown_grace",
     "On SIGTERM or SIGINT, time allowed for the requests in flight to finish; past it relay cancels what is "
     "left and exits 1 instead of 0. Open tunnels are closed shortly before it ends. nginx: "
     "worker_shutdown_timeout."},
    {"server.max_connections",
     "Most client connections open at once, for the whole process (each event-loop thread gets an equal "
     "share); a connection past it is closed as soon as it is accepted, with a warning in the log. nginx: "
     "worker_connections (times workers)."},
    {"server.trusted_proxies",
     "Peers (CIDR blocks or addresses) trusted to say who the client is: from them X-Forwarded-For is kept "
     "and extended and X-Forwarded-Proto kept, and the first address from the right of X-Forwarded-For that "
     "is not one of them is the client (access log, rate limits). From every other peer both fields are "
     "overwritten with what relay saw. A load balancer or TLS terminator in front of relay goes here. nginx: "
     "set_real_ip_from with real_ip_recursive on."},
    {"server.forwarded",
     "Also send the RFC 7239 Forwarded field (for=, proto=, host=) to the origin, extending a trusted peer's."},
    {"server.max_body_size",
     "Largest request body accepted; 0 = no limit. A larger Content-Length is answered 413 at once, before "
     "any 100 Continue and before the origin is asked; a chunked body that grows past it is cut (413 if no "
     "response has begun, else the connection closes), so the origin never takes a cut body as complete. A "
     "[[routes]] entry may replace it. nginx: client_max_body_size."},
    {"server.rate_limit.rate",
     "Requests each key may make in every period of per, an integer or a fraction (0.5); 0 = no limit. "
     "nginx: limit_req_zone rate=."},
    {"server.rate_limit.burst",
     "Requests a key may send at once beyond the steady rate: the size of its bucket. 0 = the rate (at "
     "least 1); otherwise at least 1. nginx: limit_req burst=."},
    {"server.rate_limit.per", "The period rate counts over: rate = 100 with per = \"1m\" allows 100 requests a minute."},
    {"server.rate_limit.key",
     "Whose bucket a request spends: \"client\" (the client's address, as server.trusted_proxies decides it), "
     "\"header:NAME\" such as \"header:X-Api-Key\" (that request field's value, e.g. an API key; a request "
     "without it falls back to its address) or \"route\" (one bucket for everyone)."},
    {"server.rate_limit.fleet",
     "Share the buckets with every relay using [storage.redis]'s server: one atomic script per decision, on "
     "the Redis clock, so two relays together admit the limit once, not twice. When Redis is away or slower "
     "than its command_timeout, each relay decides with its own buckets for that request (counted in "
     "relay_rate_limit_degraded_total)."},
    {"server.rate_limit.exempt_hits",
     "Cache hits spend no token: only requests that reach the origin (or wait for another request's fill) "
     "count."},
    {"server.upgrades",
     "Protocols a client may switch to through relay (an HTTP/1.1 GET with Upgrade and Connection: upgrade), "
     "compared case-insensitively: the handshake goes to the origin and, once it answers 101, bytes are "
     "tunnelled both ways until either side closes. Never cached. Other Upgrade tokens are stripped as "
     "hop-by-hop and the request is served as a plain one; [] turns tunnels off. A [[routes]] entry may "
     "replace it."},
    {"server.tunnel_idle_timeout",
     "A tunnel in which no byte moved either way for this long is closed. nginx: proxy_read_timeout. "
     "HAProxy: timeout tunnel."},
    {"server.h2c",
     "HTTP/2 in cleartext with prior knowledge (RFC 9113 section 3.3) on server.listen: a connection opening "
     "with the HTTP/2 preface speaks HTTP/2, any other HTTP/1.1. There is no Upgrade: h2c. For a load "
     "balancer or service mesh that speaks h2c to its backends; browsers use HTTP/2 over TLS."},
    // [server.tls]
    {"server.tls.listen",
     "Address of the TLS listener, host:port as server.listen takes it, and not the address of server.listen, "
     "admin.listen or metrics.listen; \"\" = no TLS listener. Needs server.tls.certificates. nginx: listen 443 "
     "ssl."},
    {"server.tls.min_version", "Lowest TLS version accepted from clients: \"1.2\" or \"1.3\". nginx: ssl_protocols."},
    {"server.tls.ciphers",
     "TLS 1.2 cipher list in OpenSSL syntax (TLS 1.3 suites are OpenSSL's defaults, all AEAD). The default is "
     "Mozilla's \"intermediate\" list; a list that selects no cipher is an error. nginx: ssl_ciphers."},
    {"server.tls.http2", "Offer HTTP/2 (\"h2\") by ALPN; false = HTTP/1.1 only. nginx: http2 on."},
    {"server.tls.handshake_timeout", "Time a client gets to complete the TLS handshake; then the connection is cut."},
    {"server.tls.session_tickets",
     "Session resumption by tickets (RFC 5077, TLS 1.3 PSK). The ticket key lives in memory only, shared by "
     "the threads and kept across reloads. nginx: ssl_session_tickets."},
    {"server.tls.ticket_key_rotation", "How often the ticket key rotates; a ticket stays valid for two rotations."},
    // [server.http2]
    {"server.http2.max_concurrent_streams",
     "Streams a client may have open at once on one connection. nginx: http2_max_concurrent_streams."},
    {"server.http2.initial_window_size",
     "Flow-control window per stream for request bodies: how much a client may send ahead of what the "
     "origin has taken; 1..2147483647 bytes."},
    {"server.http2.ping_interval",
     "A connection with open streams that receives nothing for this long is sent a PING."},
    {"server.http2.ping_timeout", "Time the client has to answer that PING; then the connection is closed."},
    {"server.http2.max_resets_burst",
     "Rapid reset (CVE-2023-44487): stream cancellations a client may send at once, as a token bucket "
     "refilled at max_resets_per_second; past it the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed."},
    {"server.http2.max_resets_per_second", "Stream cancellations per second that refill the max_resets_burst bucket."},
    {"server.http2.max_continuations",
     "CONTINUATION frames allowed to continue one header block (the CONTINUATION flood of 2024); past it the "
     "connection is closed."},
    // [upstream]
    {"upstream.url",
     "The origin everything is proxied to, http:// or https://. A path in it (http://origin:9000/app) is "
     "prepended to every request target. With [[origins]], setting it adds one more pool, named "
     "\"default\", that takes what no route matches. A password in it is printed as *** by --print-config. "
     "nginx: proxy_pass. Varnish: backend .host and .port."},
    {"upstream.connect_timeout",
     "Time allowed to establish a connection to the origin, TLS handshake included. nginx: "
     "proxy_connect_timeout. Varnish: connect_timeout."},
    {"upstream.first_byte_timeout",
     "From the request sent to the origin's response head arriving. Varnish: first_byte_timeout."},
    {"upstream.idle_timeout",
     "Longest silence allowed while receiving a response body. nginx: proxy_read_timeout. Varnish: "
     "between_bytes_timeout."},
    {"upstream.max_connections",
     "Connections to the origin open at once, in use or idle, for the whole process; each event-loop thread "
     "gets an equal share, at least one. A request that finds none free waits in line, first come first "
     "served, for at most queue_timeout. HAProxy: server maxconn."},
    {"upstream.queue_timeout",
     "Longest wait for a free origin connection; then 503, or a stale response where stale-if-error allows "
     "it. HAProxy: timeout queue."},
    {"upstream.preserve_host",
     "Forward the client's Host header instead of the origin URL's host. nginx: proxy_set_header Host $host."},
    // [upstream.tls]
    {"upstream.tls.ca_file",
     "A PEM bundle trusted instead of the system CAs (\"\" = the system CAs), e.g. a private CA. nginx: "
     "proxy_ssl_trusted_certificate. HAProxy: ca-file."},
    {"upstream.tls.ca_path",
     "A directory of CA certificates named by subject hash (openssl rehash DIR), also trusted instead of the "
     "system CAs; ca_file and ca_path may both be set."},
    {"upstream.tls.verify",
     "Check the origin's certificate chain and that it names the host (or sni). false skips both, is logged "
     "as a warning at every start and reload, and lets anyone on the path impersonate the origin. nginx: "
     "proxy_ssl_verify."},
    {"upstream.tls.sni",
     "The name sent as SNI and checked against the certificate when it differs from the URL's host (an "
     "origin reached by address, a certificate for its public name); the Host header is unchanged. Must be "
     "a DNS name; \"\" = the URL's host (no SNI for an IP address). nginx: proxy_ssl_name."},
    {"upstream.tls.client_cert",
     "Client certificate for mutual TLS, PEM; a file that also holds its key needs no client_key. nginx: "
     "proxy_ssl_certificate."},
    {"upstream.tls.client_key",
     "The unencrypted PEM private key of client_cert; needs client_cert. nginx: proxy_ssl_certificate_key."},
    {"upstream.tls.min_version", "Lowest TLS version offered to the origin: \"1.2\" or \"1.3\"."},
    // [cache]
    {"cache.default_ttl",
     "Freshness for responses that carry none (no Cache-Control or Expires, no heuristic from "
     "Last-Modified); 0 = such responses are not stored. Never used for a response to a request with Cookie. "
     "nginx: proxy_cache_valid. Varnish: default_ttl (120s there)."},
    {"cache.max_object_size",
     "Responses larger than this are streamed through without being stored. Unset, it follows the store: a "
     "quarter of a memory store's max_size, an eighth of a disk store's, 256MiB with Redis; with a tier, the "
     "lower level's. The default shown is the default store's."},
    {"cache.heuristic_max",
     "Cap on heuristic freshness: a response with Last-Modified but no explicit freshness is fresh for 10% "
     "of its age at Date (RFC 9111 section 4.2.2), at most this long; 0 = no heuristic freshness."},
    {"cache.stale_while_revalidate",
     "How long a stale response may be served while it is revalidated in the background, when the response "
     "names no stale-while-revalidate (RFC 5861). Never where must-revalidate, proxy-revalidate, s-maxage or "
     "no-cache forbid serving stale. 0 = off. nginx: proxy_cache_use_stale updating. Varnish: grace."},
    {"cache.stale_if_error",
     "How long a stale response may be served when the origin fails (unreachable, timeout, 500, 502, 503, "
     "504), when the response names no stale-if-error. Same exceptions as stale_while_revalidate; 0 = off. "
     "nginx: proxy_cache_use_stale error timeout."},
    {"cache.targeted_fields",
     "Targeted cache-control fields (RFC 9213) in precedence order: the first one present and valid on a "
     "response is used instead of Cache-Control and Expires for relay's own decisions. Each is parsed as an "
     "RFC 8941 Dictionary; one that does not parse is ignored whole. [] = ignore them."},
    {"cache.strip_targeted_fields",
     "Remove the targeted fields from responses sent to clients. Off by default: RFC 9213 does not ask for "
     "it, and caches further downstream read them too. Turn it on when relay is the last cache that should "
     "see them."},
    {"cache.status_name",
     "This cache's name in the Cache-Status response field (RFC 9211), as in Cache-Status: relay; hit. Must "
     "be an HTTP token (no spaces, quotes, ';' or ',')."},
    {"cache.set_cookie",
     "Responses carrying Set-Cookie: \"pass\" (not stored, and the key skips coalescing for hit_for_miss, as "
     "nginx and Varnish do), \"strip\" (stored without Set-Cookie: only the client whose request fetched it "
     "gets the cookie) or \"store\" (stored and replayed to everyone, as RFC 9111 allows, but only with "
     "explicit freshness or a rule ttl, never on a guessed lifetime)."},
    {"cache.honour_client_no_cache",
     "May a client's Cache-Control: no-cache, max-age=0 or min-fresh (or Pragma: no-cache) send relay to the "
     "origin? true as RFC 9111 has it; false as Varnish does, so one client cannot make relay hammer the "
     "origin. A [[routes]] entry or a rule may replace it."},
    {"cache.negative_ttl",
     "The lifetime of a 404 or 410 under a rule with a ttl (unless the rule's status lists it) and where a "
     "default_ttl would keep one, so a file not there yet stays missing for this long, not for a rule's 30 "
     "days. Without a rule the origin's own freshness on a 404 is kept. nginx: proxy_cache_valid 404 1m."},
    {"cache.strip_request_headers",
     "Request fields removed before forwarding: origins change the response on them while the cache key "
     "does not name them, so one client could poison a page for everyone. A field that is also in the key's "
     "headers (cache.key.headers or a rule's key_headers) is kept."},
    // [cache.key]
    {"cache.key.sort_query",
     "Sort query parameters, so ?a=1&b=2 and ?b=2&a=1 share one cache entry. Varnish: std.querysort()."},
    {"cache.key.ignore_params",
     "Query parameters dropped from the cache key and from the request forwarded to the origin (what is "
     "keyed is what is forwarded, so an ignored parameter cannot change a stored page); '*' matches any run "
     "of characters."},
    {"cache.key.headers",
     "Request fields whose values become part of the cache key (names, case-insensitive). nginx: $http_NAME "
     "in proxy_cache_key. Varnish: hash_data(req.http.NAME)."},
    {"cache.key.scheme",
     "true: the key starts with the scheme the client used (https on the TLS listener), as nginx's default "
     "proxy_cache_key, for an origin that answers differently per scheme; then purge each scheme's URL. "
     "false (as Varnish): both listeners share one entry per URL, and a purge of http:// or https:// reaches "
     "it."},
    // [cache.coalesce]
    {"cache.coalesce.enabled",
     "Coalesce misses: concurrent requests for one key follow the first one's fill (X-Cache: COALESCED) "
     "instead of each going to the origin. nginx: proxy_cache_lock."},
    {"cache.coalesce.follower_timeout",
     "How long a follower waits for the response head before fetching alone. nginx: proxy_cache_lock_timeout."},
    {"cache.coalesce.max_fill_age",
     "A fill older than this takes no new followers; the next request starts another. nginx: "
     "proxy_cache_lock_age."},
    {"cache.coalesce.hit_for_miss",
     "An object found uncacheable skips coalescing for this long, so requests for it never queue behind "
     "each other. Varnish: hit-for-miss."},
    {"cache.coalesce.lock_ttl",
     "The fleet lock's lifetime (with cache.coalesce.distributed): the instance fetching an object renews its "
     "lock every third of it, so an instance that dies holding a key frees it this long after its last renewal "
     "and a waiting instance takes over. At least 300ms."},
    {"cache.coalesce.distributed",
     "With storage on Redis (backend = \"redis\" or tier = \"memory+redis\"): the instances sharing it take "
     "a lock per key, so one instance in the whole fleet fetches an object while the others stream it from "
     "Redis as it is written, or wait for it to be committed."},
    {"cache.coalesce.degraded",
     "Redis unreachable: \"local\" keeps coalescing within this instance (N instances make at most N origin "
     "requests per cold key); \"fail-open\" stops coalescing altogether until Redis is back, so every request "
     "for a cold key goes to the origin: a stampede only an origin that takes it can afford."},
    {"cache.coalesce.spool_dir",
     "Followers read a fill's body from a spool at their own pace: its first spool_memory bytes in memory, "
     "the rest in an unlinked temporary file in this directory (\"\" = $TMPDIR, else /tmp). The directory must "
     "allow creating files (checked at start and by --check-config)."},
    {"cache.coalesce.spool_memory", "Bytes of a fill's body kept in memory before the rest goes to spool_dir."},
    // [cache.refresh_ahead]
    {"cache.refresh_ahead.enabled",
     "Refresh popular objects before they expire. A [[cache.rules]] entry's refresh_ahead replaces it for its "
     "paths."},
    {"cache.refresh_ahead.min_hits",
     "Hits a stored response needs during its current lifetime (since it was stored or last refreshed) before "
     "it is refreshed ahead; at least 1."},
    {"cache.refresh_ahead.at",
     "The fraction of its lifetime after which a hit on such a response starts its refresh, between 0 and 1 "
     "exclusive: 0.8 refreshes an object with a 10-minute lifetime from minute 8 on."},
    {"cache.refresh_ahead.max_concurrent",
     "Refreshes running at once in the process; a hit that finds them all busy starts none (result \"busy\") "
     "and a later hit tries again."},
    {"cache.refresh_ahead.max_tracked",
     "Stored responses whose hits are counted at once; past it, responses not yet counted are not refreshed "
     "ahead until counts of expired ones are dropped. About 100 bytes each."},
    // [storage]
    {"storage.backend",
     "Where cached objects live: \"memory\" (in the process; fastest, lost on restart), \"disk\" (files under "
     "storage.disk.path; kept across restarts) or \"redis\" (the server of [storage.redis]; kept across relay "
     "restarts and shared by every relay using the same url and key_prefix)."},
    {"storage.max_size",
     "Memory budget, counting headers, bodies and overhead: the size of the memory backend, or of the memory "
     "level of a tier. The disk budget is storage.disk.max_size. Varnish: -s malloc,SIZE."},
    {"storage.eviction",
     "What the memory store drops first when it is full: \"lru\" (least recently used), \"lfu\" (least "
     "frequently used: keeps a small hot set through scans of one-off URLs) or \"fifo\" (oldest stored)."},
    {"storage.tier",
     "A memory level in front of a larger, slower one: \"none\", \"memory+disk\" or \"memory+redis\". Lookups "
     "try memory first; a hit in the lower level is streamed to the client and copied into memory; new "
     "responses are written to both. A tier implies its lower backend: storage.backend must then be "
     "\"memory\" (its default) or that backend."},
    {"storage.keep_time",
     "How long a response is kept after it can no longer be served (freshness plus any stale windows), so "
     "it can still be revalidated with a conditional request (304) instead of a full fetch; 0 = drop it then. "
     "Varnish: beresp.keep."},
    {"storage.compression",
     "Compress bodies at rest: \"none\" or \"zstd\". Applies to what the backend stores (with a tier, to the "
     "lower level only). Clients always receive exactly the bytes the origin sent."},
    {"storage.compression_level",
     "The zstd level, 1..19: higher is smaller and slower to write; reading costs about the same at every "
     "level."},
    {"storage.compression_min_size",
     "Bodies smaller than this (when Content-Length is known) are stored as they are."},
    {"storage.compression_types",
     "Content-Types whose bodies are compressed, as \"type/subtype\" with the subtype possibly '*' "
     "(\"text/*\"), no parameters. [] = nothing is compressed."},
    // [storage.disk]
    {"storage.disk.path",
     "The cache directory, created if missing; must not be empty. relay owns it: objects/ (bodies, named by "
     "their SHA-256, so identical bodies are stored once), meta/ (one record per cache key) and tmp/. On "
     "start the index is rebuilt from meta/ and unfinished files are removed. nginx: proxy_cache_path."},
    {"storage.disk.max_size", "Disk budget: bodies plus metadata. nginx: proxy_cache_path max_size=."},
    {"storage.disk.min_free_space",
     "Keep at least this much free on the filesystem; 0 = no check. When a write would cross it, least "
     "recently used entries are evicted to make room, and a body that still does not fit is not stored (the "
     "response is served all the same). nginx: proxy_cache_path min_free=."},
    {"storage.disk.io_threads",
     "Threads for the blocking file I/O, 1..64; the event loops never touch the disk themselves."},
    {"storage.disk.verify",
     "When a hit checks the SHA-256 of each 64 KiB block it sends: \"first_read\" (the first read of a body "
     "after relay starts or after its file changes, and whenever its pages have left the page cache, so every "
     "byte that comes from the disk is checked; a hit on a checked body still in the page cache is sent "
     "straight from it with sendfile) or \"every_read\" (every hit reads and hashes every block it sends). A "
     "block that fails is never sent, and every entry using its body is dropped. nginx and Varnish: none."},
    // [storage.redis]
    {"storage.redis.url",
     "redis://[:password@]host[:port][/db]: port 1..65535, db 0..2147483647. The password may hold '@' and "
     "'/' (the last '@' ends it); error messages never print it and --print-config prints ***, so the "
     "environment (RELAY_STORAGE_REDIS_URL) is a good place for it."},
    {"storage.redis.key_prefix",
     "Prepended to every Redis key relay writes (\"\" allowed). Instances with the same url and key_prefix "
     "share one cache; a different prefix keeps caches apart on one server."},
    {"storage.redis.connect_timeout", "Time allowed to connect to Redis; must be greater than 0."},
    {"storage.redis.command_timeout",
     "Deadline of each Redis command; past it the request goes to the origin. Must be greater than 0."},
    {"storage.redis.chunk_size",
     "Body bytes per Redis value: larger bodies are split into chunks of this size. At least 4KiB."},
    {"storage.redis.sentinels",
     "Redis Sentinel: \"host:port\" of each sentinel. relay asks them for the address of master_name at start and "
     "every half second, and moves every connection to the new master after a failover; url then gives only "
     "the password and db. [] (default) = connect to url."},
    {"storage.redis.master_name", "The master name the sentinels monitor (sentinel monitor <name> ...)."},
    // [maintenance]
    {"maintenance.interval",
     "Time between rounds of each cleanup task, each round delayed by up to 5%; 0 = no scheduled cleanup, "
     "otherwise at least 100ms. Today one task, the disk store's sweep: entries whose keep time has passed "
     "go, with the bodies no other entry shares, and tmp/ files untouched for an hour. The memory and Redis "
     "backends have nothing to sweep."},
    {"maintenance.lock",
     "\"none\": every instance runs its own rounds. \"redis\": each round first takes the lock "
     "maintenance:TASK:SCOPE in [storage.redis]'s server, held for 90% of the interval and not released, so "
     "one instance per scope runs it and the others skip it; a disk sweep's scope is the host name and the "
     "cache path. Redis unreachable: the round runs locally."},
    // [admin]
    {"admin.listen",
     "Address of the admin API, host:port as server.listen takes it but not the same address; \"\" turns the "
     "admin API off."},
    {"admin.token",
     "A bearer token every admin request must send (Authorization: Bearer TOKEN), else 401; \"\" = none. "
     "Visible ASCII without spaces. Set token or token_file, not both. --print-config prints it as ***."},
    {"admin.token_file",
     "A file holding the admin token (surrounding whitespace ignored), read at every load; keeps the token "
     "out of the configuration."},
    {"admin.allow",
     "Clients allowed to connect to the admin listener, as CIDR blocks or addresses; others get 403. nginx: "
     "allow and deny."},
    // [purge]
    {"purge.allow",
     "Clients (CIDR blocks or addresses) allowed to send the PURGE method to server.listen, which purges that "
     "URL (with Fastly-Soft-Purge: 1 it marks it stale instead); others get 403. [] = PURGE is an ordinary "
     "method, forwarded to the origin."},
    {"purge.tag_headers",
     "Response fields whose values tag a stored entry, for relay purge --tag: Surrogate-Key is split on "
     "spaces (Fastly), any other field on commas (Cloudflare's Cache-Tag)."},
    {"purge.forward_tag_headers", "Send the tag fields on to clients too; by default they are relay's alone."},
    // [metrics]
    {"metrics.enabled", "Serve Prometheus metrics."},
    {"metrics.path",
     "URL path the metrics are served on; must start with '/', and on the admin listener must not be "
     "/healthz, /readyz or /purge."},
    {"metrics.listen",
     "Where metrics are served: \"\" = on the admin listener, behind its allow list and token (with "
     "admin.listen = \"\" metrics are off); \"public\" = on server.listen, where a request to metrics.path is "
     "never proxied; or host:port = a listener of its own, with no token or allow list. Scrapes are never "
     "cache traffic."},
    // [log]
    {"log.level", "Verbosity of the diagnostic log: \"error\", \"warn\", \"info\" or \"debug\"."},
    {"log.format",
     "Access log line format: \"text\" (the combined format plus relay's fields, client bytes escaped as "
     "\\xHH as nginx does) or \"json\" (one valid JSON object per line; invalid UTF-8 becomes U+FFFD)."},
    {"log.access_log",
     "Where access log lines go: \"stdout\", \"stderr\", \"off\" or a file path, opened for appending "
     "(--check-config checks it can be). SIGUSR1 makes relay open the path again, for log rotation."},
};

constexpr KeyDoc kRuleKeyDocs[] = {
    {"path",
     "Glob on the normalised request path, starting with '/' or '*'; '*' matches any run of characters."},
    {"name",
     "Labels the rule's requests in relay_route_requests_total{route}; unnamed rules count under their "
     "[[routes]] entry's name or \"default\"."},
    {"ttl",
     "Replaces the origin's freshness: the response is fresh for exactly this long, whatever its "
     "Cache-Control, Expires or targeted fields say. Varnish: set beresp.ttl."},
    {"default_ttl",
     "Freshness only when the origin gives none (nothing explicit, no heuristic from Last-Modified); "
     "replaces cache.default_ttl. nginx: proxy_cache_valid."},
    {"stale_while_revalidate", "Replaces cache.stale_while_revalidate for these paths."},
    {"stale_if_error", "Replaces cache.stale_if_error for these paths."},
    {"bypass",
     "true = never looked up or stored: always goes to the origin. nginx: proxy_cache_bypass and "
     "proxy_no_cache. Varnish: return (pass)."},
    {"ignore_params", "Replaces cache.key.ignore_params for these paths; [] keeps every parameter."},
    {"key_headers", "Replaces cache.key.headers for these paths."},
    {"key_scheme", "Replaces cache.key.scheme for these paths."},
    {"sort_query",
     "Replaces cache.key.sort_query for these paths: false keeps parameter order in the key (and in what is "
     "forwarded) where the origin gives it a meaning."},
    {"set_cookie", "Replaces cache.set_cookie for these paths."},
    {"strip_request_headers", "Replaces cache.strip_request_headers for these paths."},
    {"status",
     "The final statuses ttl and default_ttl cover, as numbers (or strings) from 100 to 599, e.g. [200, "
     "206]; other statuses get what the origin and [cache] give them. Unset: every status. nginx: "
     "proxy_cache_valid 200 206 10m."},
    {"negative_ttl", "Replaces cache.negative_ttl for these paths."},
    {"immutable",
     "true = while a stored response is fresh, a client's Cache-Control: no-cache, max-age=0 or min-fresh "
     "(or Pragma: no-cache) never sends relay to the origin: for content-addressed files (apt's by-hash/, "
     "Nix's nar/). The same as honour_client_no_cache = false for these paths."},
    {"honour_client_no_cache", "Replaces cache.honour_client_no_cache, and its route's, for these paths."},
    {"heuristic_max", "Replaces cache.heuristic_max for these paths."},
    {"max_object_size", "Replaces cache.max_object_size for these paths; 0 = no limit."},
    {"targeted_fields", "Replaces cache.targeted_fields for these paths."},
    {"coalesce",
     "false = misses on these paths never wait for one another's fetch; true cannot turn on what "
     "cache.coalesce.enabled turned off. nginx: proxy_cache_lock off."},
    {"refresh_ahead", "Replaces cache.refresh_ahead.enabled for these paths."},
};

constexpr TableKeyDoc kCertificateKeys[] = {
    {"cert", "string", "(required)",
     "A PEM file holding the certificate chain, the leaf first, then intermediates; valid now (neither "
     "expired nor not yet valid)."},
    {"key", "string", "(required)", "A PEM file holding the certificate's private key, unencrypted."},
};

constexpr TableKeyDoc kOriginKeys[] = {
    {"name", "string", "(required)",
     "The pool's name, which a route's origin names: letters, digits, '-', '_' or '.', unique. \"default\" is "
     "taken when upstream.url is set."},
    {"members", "array of tables", "(required)",
     "The origin servers, at least one: each an inline table { url, weight, priority }, or just its URL as a "
     "string."},
    {"members.url", "string", "(required)",
     "The member's http:// or https:// URL, as upstream.url takes it (a path in it is a prefix)."},
    {"members.weight", "integer", "1", "1..1000: the member's share of requests within its priority."},
    {"members.priority", "integer", "1",
     "1..1000, lower preferred: members of the best priority that has a healthy one take the requests, the "
     "next only when none of them is healthy (ordered failover, nginx backup). With no healthy member at all, "
     "the best priority is tried anyway."},
    {"balance", "string", "\"round-robin\"",
     "How a request picks a member: \"round-robin\", \"least-connections\" or \"consistent-hash\" (each cache "
     "key to one member by weighted rendezvous hashing, so a member that leaves moves only its own keys)."},
    {"connect_timeout", "duration", "(upstream.connect_timeout)", "As upstream.connect_timeout, for this pool."},
    {"first_byte_timeout", "duration", "(upstream.first_byte_timeout)",
     "As upstream.first_byte_timeout, for this pool."},
    {"idle_timeout", "duration", "(upstream.idle_timeout)", "As upstream.idle_timeout, for this pool."},
    {"queue_timeout", "duration", "(upstream.queue_timeout)", "As upstream.queue_timeout, for this pool."},
    {"max_connections", "integer", "(upstream.max_connections)",
     "Connections to this pool open at once, all members together, for the whole process; 1..1000000."},
    {"preserve_host", "boolean", "(upstream.preserve_host)", "As upstream.preserve_host, for this pool."},
    {"host", "string", "(per preserve_host)",
     "A fixed Host header for this pool's requests: a host name with an optional :port."},
    {"retry", "boolean", "true",
     "A GET, HEAD, OPTIONS, PUT or DELETE without a body whose connect fails is sent once more, to another "
     "member; a request whose body was already on its way is never retried."},
    {"tls", "table", "(upstream.tls)",
     "TLS towards this pool's https:// members, with the keys of [upstream.tls]; a key it does not set keeps "
     "[upstream.tls]'s value."},
    {"tls.ca_file", "string", "(upstream.tls.ca_file)", "As upstream.tls.ca_file, for this pool."},
    {"tls.ca_path", "string", "(upstream.tls.ca_path)", "As upstream.tls.ca_path, for this pool."},
    {"tls.verify", "boolean", "(upstream.tls.verify)", "As upstream.tls.verify, for this pool."},
    {"tls.sni", "string", "(upstream.tls.sni)", "As upstream.tls.sni, for this pool."},
    {"tls.client_cert", "string", "(upstream.tls.client_cert)", "As upstream.tls.client_cert, for this pool."},
    {"tls.client_key", "string", "(upstream.tls.client_key)", "As upstream.tls.client_key, for this pool."},
    {"tls.min_version", "string", "(upstream.tls.min_version)", "As upstream.tls.min_version, for this pool."},
    {"health_check", "table", "(off)",
     "Active checks, on a thread of their own: a GET of path every interval. Without path, members are "
     "judged by passive ejection alone. Varnish: backend .probe."},
    {"health_check.path", "string", "(none)",
     "The path checked, starting with '/'; unset, there are no active checks."},
    {"health_check.interval", "duration", "\"5s\"", "Time between checks, at least 100ms."},
    {"health_check.timeout", "duration", "\"2s\"", "Time a check may take; not more than interval."},
    {"health_check.jitter", "duration", "(a tenth of interval)",
     "Up to this much is added to each interval, at random."},
    {"health_check.expected_status", "integer", "0",
     "The status a healthy member answers with: 100..599, or 0 for any 2xx or 3xx."},
    {"health_check.rise", "integer", "2", "Successful checks in a row that bring a down member back, 1..100."},
    {"health_check.fall", "integer", "3", "Failed checks in a row that mark a member down, 1..100."},
    {"health_check.host", "string", "\"\"", "The Host of the checks; \"\" = the member's authority."},
    {"passive", "table", "(its keys' defaults)",
     "Passive ejection: members that fail client requests are taken out for a while. nginx: max_fails and "
     "fail_timeout."},
    {"passive.failures", "integer", "5",
     "Connect failures in a row (and 5xx answers, with on_5xx) that take a member out for cooldown; 0 turns "
     "passive ejection off. 0..1000."},
    {"passive.on_5xx", "boolean", "false", "Count 5xx answers as failures too."},
    {"passive.cooldown", "duration", "\"10s\"", "How long an ejected member stays out."},
};

constexpr TableKeyDoc kRouteKeys[] = {
    {"name", "string", "(routes[N])",
     "For logs and the route label of metrics, unique; routes[N] counts entries from 1."},
    {"host", "string", "(any host)",
     "The Host this route takes: \"example.com\" exactly, or \"*.example.com\" for any subdomain (not "
     "example.com itself); case-insensitive, port ignored."},
    {"path", "string", "\"/*\"", "Glob on the normalised request path, as a [[cache.rules]] path."},
    {"origin", "string", "(the default pool)",
     "The [[origins]] pool that serves the route; unset = the pool named \"default\" that upstream.url makes, "
     "so upstream.url must then be set when there are [[origins]]."},
    {"max_body_size", "size", "(server.max_body_size)",
     "Replaces server.max_body_size for the route's requests, decided from the request head before any 100 "
     "Continue."},
    {"rate_limit", "table", "(server.rate_limit)",
     "Replaces [server.rate_limit] for the route's requests, named after the route in metrics, fields and "
     "Redis keys: an inline table of the same keys, where a key it does not set takes its default, not "
     "[server.rate_limit]'s value."},
    {"rate_limit.rate", "number", "0", "As server.rate_limit.rate, for this route."},
    {"rate_limit.burst", "number", "0", "As server.rate_limit.burst, for this route."},
    {"rate_limit.per", "duration", "\"1s\"", "As server.rate_limit.per, for this route."},
    {"rate_limit.key", "string", "\"client\"", "As server.rate_limit.key, for this route."},
    {"rate_limit.fleet", "boolean", "false", "As server.rate_limit.fleet, for this route."},
    {"rate_limit.exempt_hits", "boolean", "false", "As server.rate_limit.exempt_hits, for this route."},
    {"upgrades", "array of strings", "(server.upgrades)",
     "Replaces server.upgrades, the Upgrade tokens tunnelled, for this route; a handshake spends a rate-limit "
     "token and its tunnel goes to a member of the route's pool."},
    {"honour_client_no_cache", "boolean", "(cache.honour_client_no_cache)",
     "Replaces cache.honour_client_no_cache for this route."},
    {"request_headers", "table", "(no edits)",
     "Edits of the request fields sent to the origin, applied in the order remove, set, add. Fields that "
     "frame or route the message (Content-Length, Transfer-Encoding, Connection, Host, Upgrade, TE, Trailer) "
     "cannot be edited. nginx: proxy_set_header."},
    {"request_headers.remove", "array of strings", "[]", "Field names removed."},
    {"request_headers.set", "table", "{}", "\"Name\" = \"value\" pairs, each replacing every field of that name."},
    {"request_headers.add", "table", "{}", "\"Name\" = \"value\" pairs, each appended."},
    {"response_headers", "table", "(no edits)",
     "Edits of the response fields sent to the client, as request_headers. nginx: add_header and "
     "proxy_hide_header."},
    {"response_headers.remove", "array of strings", "[]", "Field names removed."},
    {"response_headers.set", "table", "{}", "\"Name\" = \"value\" pairs, each replacing every field of that name."},
    {"response_headers.add", "table", "{}", "\"Name\" = \"value\" pairs, each appended."},
    {"cache_rules", "array of tables", "[]",
     "This route's own rules, written [[routes.cache_rules]] after the entry, with the keys of "
     "[[cache.rules]]; tried before [[cache.rules]]."},
};

constexpr TableKeyDoc kWarmKeys[] = {
    {"name", "string", "(warm[N])",
     "For logs and the source label of the relay_warm_* metrics: letters, digits, '-', '_' or '.', unique."},
    {"urls", "string", "(this or sitemap)",
     "A file of URLs, read at every run (edit it without a reload): one per line, an absolute http:// or "
     "https:// URL or a path starting with '/'; blank lines and lines starting with '#' are skipped."},
    {"sitemap", "string", "(this or urls)",
     "The http:// or https:// URL of a sitemap (sitemaps.org 0.9: the loc of every url) or of a sitemap index "
     "(the sitemaps it lists are fetched too, one level deep). Fetched through relay itself, revalidated at "
     "every run. Gzip-compressed sitemap files are not read."},
    {"host", "string", "(none)",
     "The Host of the lines of urls that are paths, as clients send it (the cache key holds it, so it must be "
     "the name clients use, www.example.com, not the origin's address); unset, such lines are skipped and "
     "logged."},
    {"every", "duration", "\"1h\"",
     "A run starts at start-up and then this long after the previous one started (right after it ends when it "
     "took longer); 0 = at start-up only, at least 1s otherwise. A reload that changes the [[warm]] entries "
     "starts them again."},
    {"rate", "number", "10", "Requests per second at most, variants counted apart."},
    {"concurrency", "integer", "4", "Requests in flight at most, 1..256."},
    {"max_urls", "integer", "50000", "URLs a run collects at most; the rest are left out and logged."},
    {"variants", "array of tables", "[]",
     "Request fields, one request per URL and table, to warm each variant a Vary response keeps apart: "
     "[{ \"Accept-Encoding\" = \"gzip\" }, { \"Accept-Encoding\" = \"identity\" }]. Empty: one request "
     "without extra fields. Host and framing fields cannot be set."},
};

constexpr TableDoc kTableDocs[] = {
    {"server.tls.certificates",
     "The certificate chains and keys of the TLS listener, as an array of inline tables { cert, key }; none "
     "by default, at least one when server.tls.listen is set. The first is the default; the others are chosen "
     "by SNI from the names in each certificate (subjectAltName DNS entries, wildcards included; the subject "
     "CN when there is none). From the environment as the same TOML array: "
     "RELAY_SERVER_TLS_CERTIFICATES='[{ cert = \"/etc/relay/site.pem\", key = \"/etc/relay/site.key\" }]'.",
     kCertificateKeys},
    {"origins",
     "Named pools of origin servers, chosen per request by [[routes]]. A pool takes [upstream]'s timeouts, "
     "connection limit, Host handling and TLS settings unless it sets its own. With [[origins]], "
     "upstream.url (when set) is one more pool, named \"default\", that takes what no route matches. None by "
     "default: the one pool is then \"default\", made from [upstream]. Written in the file only; adding or "
     "removing pools or members, or changing their health settings, needs a restart.",
     kOriginKeys},
    {"routes",
     "Routes choose the pool of a request: they are tried in file order and the first whose host and path "
     "match the normalised request applies. Without [[routes]] everything goes to the first pool; with them, "
     "a request no route takes goes to the pool named \"default\" when upstream.url is set, else it is "
     "answered 404. Written in the file only; a reload applies them.",
     kRouteKeys},
    {"warm",
     "Cache warming: each entry is a source of URLs that relay requests through its own request path (rules, "
     "keys, coalescing and storage as for a client) at start-up and then every period, at a bounded rate and "
     "concurrency, so they are cached before clients ask. A URL already fresh costs nothing but a lookup. Warm "
     "requests are not client traffic: no access log line, no relay_requests_total, no rate limit; they are "
     "counted in relay_warm_requests_total{source,result} and each run is logged. Written in the file only; a "
     "reload applies them.",
     kWarmKeys},
};

}  // namespace

std::span<const KeyDoc> section_docs() { return kSectionDocs; }
std::span<const KeyDoc> key_docs() { return kKeyDocs; }
std::span<const KeyDoc> rule_key_docs() { return kRuleKeyDocs; }
std::span<const TableDoc> table_docs() { return kTableDocs; }

std::string_view type_name(Kind kind) {
  switch (kind) {
    case Kind::String: return "string";
    case Kind::Int: return "integer";
    case Kind::Bool: return "boolean";
    case Kind::Duration: return "duration";
    case Kind::Size: return "size";
    case Kind::StringList: return "array of strings";
    case Kind::Number: return "number";
  }
  return "value";
}

std::string_view doc_for(std::span<const KeyDoc> docs, std::string_view path) {
  const auto it = std::find_if(docs.begin(), docs.end(), [&](const KeyDoc& d) { return d.path == path; });
  return it == docs.end() ? std::string_view{} : it->text;
}

}  // namespace relay::config
