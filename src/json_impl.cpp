// The one translation unit that compiles Boost.JSON (the admin API reads
// JSON request bodies with it; relay writes its own JSON with util/json.hpp).
#include <boost/json/src.hpp>
