// The purge subcommand: reads [admin] from the config file (and its
// RELAY_ADMIN_* overrides), as the daemon does, then POSTs one purge order
// to the admin API with libcurl and reports the answer.
#include "relay/cli/purge_command.hpp"

#include <curl/curl.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/util/json.hpp"

namespace relay::cli {

namespace {

constexpr std::string_view kUsage =
    "usage: relay purge [--config FILE] [--soft] (URL | --prefix URL-PREFIX | --tag TAG | --all)\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "relay purge: %s\n%.*s", message.c_str(), static_cast<int>(kUsage.size()), kUsage.data());
  return 2;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "relay purge: %s\n", message.c_str());
  return 1;
}

struct Invocation {
  std::string config_path;
  bool soft = false;
  std::string kind;  // url | glob | prefix | tag | all
  std::string value;
};

// nullopt after printing a usage error into `status`.
std::optional<Invocation> parse_arguments(int argc, char** argv, int& status) {
  Invocation call;
  auto choose = [&](std::string kind, std::string value) {
    if (!call.kind.empty()) return false;
    call.kind = std::move(kind);
    call.value = std::move(value);
    return true;
  };
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_next = i + 1 < argc;
    bool chosen = true;
    if (arg == "--config" || arg == "-c") {
      if (!has_next) return status = usage_error("--config needs a file name"), std::nullopt;
      call.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      call.config_path = std::string(arg.substr(9));
    } else if (arg == "--soft") {
      call.soft = true;
    } else if (arg == "--prefix" || arg == "--tag") {
      if (!has_next) return status = usage_error(std::string(arg) + " needs a value"), std::nullopt;
      chosen = choose(std::string(arg.substr(2)), argv[++i]);
    } else if (arg == "--all") {
      chosen = choose("all", "");
    } else if (arg.starts_with("-")) {
      return status = usage_error("unknown argument '" + std::string(arg) + "'"), std::nullopt;
    } else {
      chosen = choose(arg.find('*') == std::string_view::npos ? "url" : "glob", std::string(arg));
    }
    if (!chosen) return status = usage_error("name one thing to purge"), std::nullopt;
  }
  if (call.kind.empty()) return status = usage_error("name what to purge"), std::nullopt;
  return call;
}

std::string order_json(const Invocation& call) {
  json::Object order;
  if (call.kind == "all")
    order.add("all", true);
  else
    order.add(call.kind, call.value);
  if (call.soft) order.add("soft", true);
  return order.str();
}

// http://host:port of the admin listener; a wildcard address is reached on loopback.
std::string admin_url(const config::ListenAddress& listen) {
  std::string host = listen.address;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(listen.port) + "/purge";
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct Answer {
  long status = 0;
  std::string body;
};

std::optional<Answer> post(const std::string& url, const std::string& token, const std::string& body,
                           std::string& error) {
  CURL* curl = curl_easy_init();
  if (!curl) return error = "cannot initialise libcurl", std::nullopt;
  Answer answer;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string authorization;
  if (!token.empty()) {
    authorization = "Authorization: Bearer " + token;
    headers = curl_slist_append(headers, authorization.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);  // a purge of millions of entries takes a while
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return error = curl_easy_strerror(code), std::nullopt;
  return answer;
}

}  // namespace

int purge_command(int argc, char** argv) {
  int status = 0;
  auto call = parse_arguments(argc, argv, status);
  if (!call) return status;
  config::Config cfg;
  std::string token;
  try {
    const auto env = config::relay_environment();
    cfg = call->config_path.empty() ? config::load_defaults(env) : config::load_from_file(call->config_path, env);
    token = config::admin_token(cfg.admin);
  } catch (const std::exception& e) {
    return failure(std::string("invalid configuration: ") + e.what());
  }
  if (!cfg.admin.listen.address) return failure("the admin API is off (admin.listen = \"\"): nothing to ask");
  const auto url = admin_url(*cfg.admin.listen.address);
  std::string error;
  auto answer = post(url, token, order_json(*call), error);
  if (!answer) return failure("cannot reach the admin API at " + url + ": " + error);
  boost::system::error_code ec;
  const auto reply = boost::json::parse(answer->body, ec);
  const auto* object = !ec && reply.is_object() ? &reply.as_object() : nullptr;
  if (answer->status != 200 || !object || !object->contains("purged")) {
    const auto* detail = object ? object->if_contains("detail") : nullptr;
    return failure(std::to_string(answer->status) + ": " +
                   (detail && detail->is_string() ? std::string(detail->as_string()) : answer->body));
  }
  const auto& purged = object->at("purged");
  std::printf("purged %lld %s\n", static_cast<long long>(purged.is_int64() ? purged.as_int64() : 0),
              purged.is_int64() && purged.as_int64() == 1 ? "entry" : "entries");
  return 0;
}

}  // namespace relay::cli
