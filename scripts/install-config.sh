#!/bin/sh
# meson install's last step: <sysconfdir>/relay/relay.toml from the
# relay.toml.default just installed beside it, only when there is none yet.
# An operator's file is never overwritten (nginx's `make install` does the
# same with nginx.conf). $1 is the absolute directory; DESTDIR stages it.
set -eu
dir="${DESTDIR:-}$1"
if [ ! -e "$dir/relay.toml" ]; then
  cp "$dir/relay.toml.default" "$dir/relay.toml"
fi
