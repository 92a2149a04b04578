#!/usr/bin/env bash
# scripts/pg-test.sh — a throwaway Postgres cluster on loopback for the server tests.
#
#   scripts/pg-test.sh start DIR    initdb + pg_ctl start in DIR (as the unprivileged
#                                   `postgres` user when run as root); prints the base URL
#                                   (postgres://waymark@127.0.0.1:PORT) on stdout
#   scripts/pg-test.sh stop DIR     stop the cluster and remove DIR
#
# Installs Debian's `postgresql` when initdb is missing. Postgres refuses to run as root.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_bin() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        info "installing postgresql (Debian)" >&2
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    fi
    printf '%s' "$bin"
}

# Run as the unprivileged postgres user when we are root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
    local dir="$1" bin port
    bin="$(pg_bin)"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres; chown postgres "$dir"; }
    port="$(free_port)"
    as_pg "$bin/initdb" -D "$dir/data" -U waymark --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # Throwaway cluster: durability off is fine for correctness tests (the load script
    # starts its own cluster with fsync on).
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200 ${PG_EXTRA_OPTS:-}" \
        start >/dev/null || { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
    printf 'postgres://waymark@127.0.0.1:%s\n' "$port"
}

stop() {
    local dir="$1" bin
    bin="$(pg_bin)"
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start "${2:?usage: pg-test.sh start DIR}" ;;
    stop) stop "${2:?usage: pg-test.sh stop DIR}" ;;
    *) sed -n "2,10p" "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
