#!/bin/sh
# Entrypoint of the nginx service in docker-compose.yml. It runs nginx with
# the nginx.conf that the nginx-config service rendered with
# `mediagate nginx-config`, which it finds in the shared nginx-conf volume.
set -eu

conf=/etc/mediagate/nginx.conf
# Must equal the --prefix given to `mediagate nginx-config` in
# docker-compose.yml: the config puts its pid file, logs and temp dirs there.
prefix=/var/cache/nginx/mediagate

if [ ! -s "$conf" ]; then
  echo "nginx-entrypoint: $conf is missing; the nginx-config service renders it" >&2
  exit 1
fi
mkdir -p "$prefix"
# Logs go to the container's output, as with the nginx image's own config.
ln -sf /dev/stdout "$prefix/access.log"
ln -sf /dev/stderr "$prefix/error.log"

exec nginx -p "$prefix" -c "$conf" -e /dev/stderr -g 'daemon off;'
