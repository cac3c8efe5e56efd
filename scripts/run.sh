#!/usr/bin/env bash
# `make run`: the app, with nginx in front when nginx is installed. Everything
# nginx needs lives under ./var/nginx; no system config is touched. Ctrl-C
# stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

bin=./bin/mediagate
listen="${MEDIAGATE_NGINX_LISTEN:-127.0.0.1:8081}"
app_addr="${MEDIAGATE_ADDR:-127.0.0.1:8080}"
mkdir -p var/nginx

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$bin" serve &
pids+=($!)

# Wait for the app (it creates and migrates its database first).
for _ in $(seq 1 100); do
  if [[ "$app_addr" == unix:* ]]; then
    if curl -fsS --unix-socket "${app_addr#unix:}" "http://mediagate/healthz" >/dev/null 2>&1; then break; fi
  elif curl -fsS "http://$app_addr/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "run: the app exited" >&2; exit 1; fi
  sleep 0.2
done

if command -v nginx >/dev/null 2>&1; then
  "$bin" nginx-config --listen "$listen" --upstream "$app_addr" --prefix var/nginx > var/nginx/nginx.conf
  nginx -p "$PWD/var/nginx" -c "$PWD/var/nginx/nginx.conf" -e "$PWD/var/nginx/error.log" -g 'daemon off;' &
  pids+=($!)
  echo
  echo "  Mediagate is up behind nginx: open http://$listen/"
  echo "  (the app itself listens on http://$app_addr/; nginx streams the files)"
  echo
else
  echo
  echo "  Mediagate is up: open http://$app_addr/"
  echo "  (nginx is not installed, so the app serves files itself)"
  echo
fi
wait -n "${pids[@]}"
