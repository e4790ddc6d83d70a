// The one translation unit that compiles Boost.URL. It lives in relay_pure so
// the unit tests, which link only the pure library, get the URL parser too.
#include <boost/url/src.hpp>
