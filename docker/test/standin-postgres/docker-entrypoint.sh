#!/bin/sh
# Stand-in for the official postgres image's entrypoint, enough for
# docker/compose.yaml: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB create
# the cluster in PGDATA on first start, then the server runs as postgres.
set -eu
if [ "${1:-}" = postgres ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pw="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
        chown postgres "$pw"
        setpriv --reuid=postgres --regid=postgres --init-groups \
            initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" \
            --auth-local=trust --auth-host=scram-sha-256 >/dev/null
        rm -f "$pw"
        echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" |
            setpriv --reuid=postgres --regid=postgres --init-groups \
            postgres --single -D "$PGDATA" -c listen_addresses= postgres >/dev/null
    fi
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$@" -D "$PGDATA"
fi
exec "$@"
