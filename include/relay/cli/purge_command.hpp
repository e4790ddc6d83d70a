// `relay purge [--config FILE] [--soft] (URL | --prefix URL-PREFIX | --tag TAG | --all)`:
// a purge through the admin API of the relay the config file describes
// (varnishadm ban, for relay). A URL holding '*' is a glob.
#pragma once

namespace relay::cli {

// `args` follow the word "purge". Prints the number of entries affected;
// returns 0, or 1 on failure (2 for a usage error), saying why on stderr.
int purge_command(int argc, char** argv);

}  // namespace relay::cli
