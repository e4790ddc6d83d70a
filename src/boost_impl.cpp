// The one translation unit that compiles Asio
// (BOOST_ASIO_SEPARATE_COMPILATION), keeping every other file light.
// Boost.URL is compiled in src/url_impl.cpp, part of relay_pure.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
