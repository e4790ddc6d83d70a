// The config loader: TOML text and RELAY_* variables, as `relay --config`
// reads them, then validation. Input: the TOML text, optionally followed by
// a line "%%env" and NAME=value lines. A bad file must end in ConfigError
// (a message naming the key and line), never a crash or another exception.
// Paths the file names are read by the loader (certificates), so inputs
// naming devices or /proc are skipped: reading /dev/stdin would block.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "relay/config/config.hpp"
#include "relay/config/print.hpp"
#include "relay/config/schema.hpp"

using namespace relay;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.find("/dev") != std::string_view::npos || in.find("/proc") != std::string_view::npos ||
      in.find("/sys") != std::string_view::npos)
    return 0;
  std::string_view toml = in;
  config::Environment env;
  if (auto split = in.find("\n%%env\n"); split != std::string_view::npos) {
    toml = in.substr(0, split);
    auto rest = in.substr(split + 7);
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      auto line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (auto eq = line.find('='); eq != std::string_view::npos)
        env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  try {
    auto loaded = config::load_with_sources(toml, "fuzz.toml", env);
    (void)config::print_config(loaded);
  } catch (const config::ConfigError&) {
    // The answer to a bad file.
  } catch (const std::exception& e) {
    // Anything else escaping the loader would end relay without a message
    // naming the key: a bug.
    std::abort();
  }
  return 0;
}
