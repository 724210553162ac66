#!/usr/bin/env bash
# Ensure a PostgreSQL server and a Redis broker are reachable for tests and the demo.
#
# Usage (from the Makefile):
#     envs="$(bash scripts/services.sh env)" && eval "$envs"
#     bash scripts/services.sh status
#     bash scripts/services.sh stop
#
# `env` prints ONLY `export DATABASE_URL=...` / `export BROKER_URL=...` lines on stdout;
# every other message goes to stderr.  If it fails it prints `false` on stdout, so that
# `eval "$(bash scripts/services.sh env)"` itself fails instead of silently evaluating
# nothing.
#
# Resolution order, for each of PostgreSQL and the broker:
#   1. the configured URL ($DATABASE_URL / $BROKER_URL from the environment, else from the
#      project's .env, or $ENV_FILE's; ENV_FILE= reads none) if a server answers there; a
#      configured URL where nothing answers stops with a message naming the variable (unless it
#      is the private server this script started before, which it starts again);
#   2. with nothing configured, the default (postgresql+psycopg://postgres@127.0.0.1:5432/plan,
#      redis://127.0.0.1:6379/0, or with BROKER=rabbitmq amqp://guest:guest@127.0.0.1:5672//)
#      if a server answers there, the database created when missing;
#   3. otherwise a private server started by this script (reused if already running):
#        PostgreSQL: a cluster created with initdb (-A trust -U postgres), port 55432+
#        Redis:      redis-server --daemonize yes, port 56379+, no persistence
#        RabbitMQ:   rabbitmq-server with its own node name, ports and data dir, port 56672+
#   DATABASE_SSL=false is printed too when the database is on this machine and DATABASE_SSL
#   is not configured (the settings' default, on, is for remote hosts).
#      Missing server binaries are installed with apt-get when running as root on
#      Debian/Ubuntu; otherwise the script fails with instructions.
#
# State lives in $PWD/.local (ports, pid file, logs).  The PostgreSQL data directory and
# its unix socket live in a per-checkout directory under /tmp (recorded in
# .local/pg.datadir): initdb/pg_ctl refuse to run as root, so as root they run as the
# `postgres` system user, which must be able to reach the data directory without us
# loosening permissions on the checkout's parent directories.
#
# Environment knobs (all optional):
#   PG_BINDIR               directory holding initdb/pg_ctl (default: newest
#                           /usr/lib/postgresql/*/bin, else from PATH)
#   SERVICES_NO_INSTALL=1   never run apt-get; fail with instructions instead
#   SERVICES_START_TIMEOUT  seconds to wait for a private server to be ready (default 60)

set -euo pipefail

# Everything goes to stderr except what we explicitly print to fd 3 (the real stdout).
# Daemons we start must not inherit fd 3 (it would keep `$(services.sh env)` waiting for
# EOF forever), fd 8 (the lock) or anything else we inherited: see `detached`.
exec 3>&1 1>&2

# The one development database, the settings' DATABASE_NAME default too.
readonly DEFAULT_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/plan"
readonly DEFAULT_BROKER_URL="redis://127.0.0.1:6379/0"
readonly DEFAULT_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672//"
readonly PG_PORT_BASE=55432
readonly REDIS_PORT_BASE=56379
readonly RABBITMQ_PORT_BASE=56672
readonly PORT_SCAN_SPAN=100
readonly START_TIMEOUT="${SERVICES_START_TIMEOUT:-60}"

ROOT_DIR="$(pwd -P)"
readonly ROOT_DIR
readonly LOCAL_DIR="$ROOT_DIR/.local"

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

checkout_hash() {
    local h
    if have sha256sum; then
        h="$(printf '%s' "$ROOT_DIR" | sha256sum)"
    else
        h="$(printf '%s' "$ROOT_DIR" | cksum)"
    fi
    h="${h%% *}"
    printf '%s' "${h:0:12}"
}

# Per-checkout runtime directory for the private PostgreSQL cluster (data dir, socket,
# log).  The uid is part of the name so two users sharing a checkout path do not collide.
RUNTIME_DIR="/tmp/plan-service-$(id -u)-$(checkout_hash)"
readonly RUNTIME_DIR

# ---------------------------------------------------------------------------------------
# URL parsing

urldecode() {
    local s="${1//+/ }"
    printf '%b' "${s//%/\\x}"
}

# parse_url URL -> sets U_SCHEME U_USER U_PASS U_HOST U_PORT U_PATH U_QUERY
parse_url() {
    local url="$1"
    local re='^([A-Za-z][A-Za-z0-9+.-]*)://(([^:@/]*)(:([^@/]*))?@)?(\[[^]/]+\]|[^:/?]*)(:([0-9]+))?(/([^?]*))?(\?.*)?$'
    if [[ ! "$url" =~ $re ]]; then
        return 1
    fi
    U_SCHEME="${BASH_REMATCH[1]}"
    U_USER="$(urldecode "${BASH_REMATCH[3]}")"
    U_PASS="$(urldecode "${BASH_REMATCH[5]}")"
    U_HOST="${BASH_REMATCH[6]}"
    U_HOST="${U_HOST#[}"
    U_HOST="${U_HOST%]}"
    U_PORT="${BASH_REMATCH[8]}"
    U_PATH="${BASH_REMATCH[10]}"
    U_QUERY="${BASH_REMATCH[11]}"
}

# redact_url URL: the URL without its password, for messages.
redact_url() {
    printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'
}

# ---------------------------------------------------------------------------------------
# Low-level probes

with_timeout() {
    local secs="$1"
    shift
    if have timeout; then
        timeout "$secs" "$@"
    else
        "$@"
    fi
}

# tcp_open HOST PORT: something accepts TCP connections there.
tcp_open() {
    with_timeout 3 bash -c 'exec 9<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (binding may still race; callers retry).
port_free() {
    local port="$1"
    if have ss && [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then
        return 1
    fi
    ! tcp_open 127.0.0.1 "$port"
}

# first_free_port BASE: the first free port in [BASE, BASE + PORT_SCAN_SPAN).
first_free_port() {
    local base="$1" port
    for ((port = base; port < base + PORT_SCAN_SPAN; port++)); do
        if port_free "$port"; then
            printf '%s' "$port"
            return 0
        fi
    done
    die "no free port in ${base}-$((base + PORT_SCAN_SPAN - 1))"
}

# detached CMD...: run CMD (which leaves a daemon behind) with every inherited file
# descriptor above 2 closed, so the daemon holds neither our stdout pipe nor our lock.
detached() {
    (
        local fd n
        for fd in /proc/self/fd/*; do
            n="${fd##*/}"
            if [[ "$n" =~ ^[0-9]+$ ]] && ((n > 2)); then
                eval "exec $n>&-" 2>/dev/null || true
            fi
        done
        "$@"
    )
}

# ---------------------------------------------------------------------------------------
# Binary discovery and installation

apt_install() {
    local pkg="$1"
    if [[ "${SERVICES_NO_INSTALL:-0}" == "1" ]] || ! is_root || ! have apt-get; then
        return 1
    fi
    log "installing Debian package '$pkg' (apt-get) ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" </dev/null
}

# Echo the newest directory holding initdb + pg_ctl, or return 1.
find_pg_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        if [[ -x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl" ]]; then
            printf '%s' "$PG_BINDIR"
            return 0
        fi
        die "PG_BINDIR=$PG_BINDIR does not contain initdb and pg_ctl"
    fi
    local best="" d
    while IFS= read -r d; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && best="$d"
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null |
        sort -V)
    if [[ -n "$best" ]]; then
        printf '%s' "$best"
        return 0
    fi
    if have initdb && have pg_ctl; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

PGBIN=""
ensure_pg_binaries() {
    [[ -n "$PGBIN" ]] && return 0
    if PGBIN="$(find_pg_bindir)"; then
        return 0
    fi
    # The Debian package may create and start its own cluster on 5432; we do not rely on
    # it (its TCP logins need a password): we always run our own cluster via initdb/pg_ctl.
    if apt_install postgresql && PGBIN="$(find_pg_bindir)"; then
        return 0
    fi
    die "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin" \
        "or on PATH, and no PostgreSQL answers at the configured URL." \
        "Install them (Debian/Ubuntu: 'sudo apt-get install postgresql'; other systems:" \
        "your distribution's PostgreSQL server package), set PG_BINDIR, or point" \
        "DATABASE_URL at a running server."
}

REDIS_SERVER=""
ensure_redis_binary() {
    [[ -n "$REDIS_SERVER" ]] && return 0
    if REDIS_SERVER="$(command -v redis-server)"; then
        return 0
    fi
    if apt_install redis-server && REDIS_SERVER="$(command -v redis-server)"; then
        return 0
    fi
    die "redis-server not found on PATH, and no Redis answers at the configured URL." \
        "Install it (Debian/Ubuntu: 'sudo apt-get install redis-server'; macOS:" \
        "'brew install redis') or point BROKER_URL at a running Redis."
}

# ---------------------------------------------------------------------------------------
# Running commands as the PostgreSQL owner

PG_OWNER=""
ensure_pg_owner() {
    if ! is_root; then
        PG_OWNER="$(id -un)"
        return 0
    fi
    PG_OWNER=postgres
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating system user 'postgres' (initdb/pg_ctl refuse to run as root)"
        useradd --system --user-group --create-home --home-dir /var/lib/postgresql \
            --shell /bin/bash postgres
    fi
}

# as_pg CMD...: run CMD as the cluster owner, from a directory that owner can enter.
as_pg() {
    if ! is_root; then
        (cd "$RUNTIME_DIR" && "$@")
    elif have runuser; then
        (cd "$RUNTIME_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$RUNTIME_DIR" && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
    fi
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

PG_DATA="$RUNTIME_DIR/pg"
PG_SOCKDIR="$RUNTIME_DIR/run"
PG_LOG="$RUNTIME_DIR/pg.log"

# pg_client TOOL: path of a PostgreSQL client program (PATH first, then the server bindir).
pg_client() {
    local dir
    if have "$1"; then
        command -v "$1"
    elif dir="$(find_pg_bindir 2>/dev/null)" && [[ -x "$dir/$1" ]]; then
        printf '%s' "$dir/$1"
    else
        return 1
    fi
}

pg_probe_ready() { # HOST PORT
    local isready
    if isready="$(pg_client pg_isready)"; then
        "$isready" -q -t 3 -h "$1" -p "$2" >/dev/null 2>&1
    else
        tcp_open "$1" "$2"
    fi
}

# pg_login_ok HOST PORT USER PASS DB: we can actually log in (0), cannot (1), or no client
# is available to tell (2).
pg_login_ok() {
    local psql
    if psql="$(pg_client psql)"; then
        # psql exits 2 on a failed connection: normalise every failure to 1.
        PGPASSWORD="$4" PGCONNECT_TIMEOUT=5 with_timeout 10 "$psql" -X -w -q -tA \
            -h "$1" -p "$2" -U "$3" -d "$5" -c 'select 1' >/dev/null 2>&1 || return 1
        return 0
    fi
    local py="$ROOT_DIR/.venv/bin/python"
    if [[ -x "$py" ]] && "$py" -c 'import psycopg' >/dev/null 2>&1; then
        with_timeout 10 "$py" - "$@" <<'PY' >/dev/null 2>&1 || return 1
import sys
import psycopg
host, port, user, password, db = sys.argv[1:6]
psycopg.connect(host=host, port=port, user=user, password=password or None, dbname=db,
                connect_timeout=5).close()
PY
        return 0
    fi
    return 2
}

pg_private_running() {
    [[ -f "$LOCAL_DIR/pg.port" && -f "$PG_DATA/PG_VERSION" ]] || return 1
    local port
    port="$(<"$LOCAL_DIR/pg.port")"
    [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
    # postmaster.pid line 4 is the port the running postmaster listens on.
    [[ "$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null)" == "$port" ]] || return 1
    pg_probe_ready 127.0.0.1 "$port"
}

prepare_runtime_dir() {
    # /tmp is world-writable: refuse a pre-existing directory we do not own, or a symlink.
    if [[ -L "$RUNTIME_DIR" ]]; then
        die "$RUNTIME_DIR is a symlink; refusing to use it"
    fi
    if [[ ! -d "$RUNTIME_DIR" ]]; then
        mkdir -m 0755 "$RUNTIME_DIR"
    fi
    if [[ "$(stat -c %u "$RUNTIME_DIR")" != "$(id -u)" ]]; then
        die "$RUNTIME_DIR is not owned by $(id -un); remove it or run as its owner"
    fi
    chmod 0755 "$RUNTIME_DIR"
    local d
    for d in "$PG_DATA" "$PG_SOCKDIR"; do
        [[ -L "$d" ]] && die "$d is a symlink; refusing to use it"
        mkdir -p "$d"
        chmod 0700 "$d"
    done
    touch "$PG_LOG"
    if is_root; then
        chown postgres: "$PG_DATA" "$PG_SOCKDIR" "$PG_LOG"
        chown -R postgres: "$PG_DATA"
    fi
    printf '%s\n' "$PG_DATA" >"$LOCAL_DIR/pg.datadir"
    ln -sfn "$PG_LOG" "$LOCAL_DIR/pg.log"
}

pg_start_private() {
    ensure_pg_binaries
    ensure_pg_owner
    prepare_runtime_dir

    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        log "initialising private PostgreSQL cluster in $PG_DATA ($PGBIN)"
        as_pg "$PGBIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale \
            --no-sync >"$LOCAL_DIR/initdb.log" 2>&1 ||
            {
                cat "$LOCAL_DIR/initdb.log" >&2
                die "initdb failed (log: $LOCAL_DIR/initdb.log)"
            }
    fi

    # A stale postmaster from an earlier run (e.g. the port file was lost) must not keep
    # the data directory locked.
    if as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "stopping stale private PostgreSQL in $PG_DATA"
        as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$START_TIMEOUT" stop >/dev/null
    fi

    local port="" attempt
    if [[ -f "$LOCAL_DIR/pg.port" ]]; then
        port="$(<"$LOCAL_DIR/pg.port")"
        port_free "$port" || port=""
    fi
    [[ -n "$port" ]] || port="$(first_free_port "$PG_PORT_BASE")"

    for attempt in 1 2 3 4 5; do
        log "starting private PostgreSQL on 127.0.0.1:$port (log: $LOCAL_DIR/pg.log)"
        local before
        before="$(wc -c <"$PG_LOG")"
        if detached as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" \
            -o "-p $port -k $PG_SOCKDIR -c listen_addresses=127.0.0.1 -c fsync=off" \
            start >/dev/null; then
            break
        fi
        if tail -c +"$((before + 1))" "$PG_LOG" | grep -qiE 'could not bind|address already in use' &&
            [[ "$attempt" -lt 5 ]]; then
            log "port $port was taken meanwhile; trying another"
            port="$(first_free_port "$((port + 1))")"
            continue
        fi
        tail -n 30 "$PG_LOG" >&2 || true
        die "private PostgreSQL failed to start (log: $LOCAL_DIR/pg.log)"
    done
    printf '%s\n' "$port" >"$LOCAL_DIR/pg.port"

    local deadline=$((SECONDS + START_TIMEOUT))
    until pg_probe_ready 127.0.0.1 "$port"; do
        ((SECONDS < deadline)) || die "private PostgreSQL on port $port not ready after ${START_TIMEOUT}s"
        sleep 0.2
    done
}

# pg_ensure_database PORT DB: create DB in the private cluster if it does not exist.
pg_ensure_database() {
    local port="$1" db="$2"
    [[ "$db" == "postgres" ]] && return 0
    local exists
    # Variables are interpolated only in psql's script input, not in -c.
    exists="$("$PGBIN/psql" -X -w -tA -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -v db="$db" <<<"select 1 from pg_database where datname = :'db'")"
    if [[ "$exists" != "1" ]]; then
        log "creating database '$db' in the private cluster"
        "$PGBIN/createdb" -w -h 127.0.0.1 -p "$port" -U postgres "$db"
    fi
}

# pg_create_database HOST PORT USER PASS DB: create DB on a server we can log in to.
pg_create_database() {
    local psql
    psql="$(pg_client psql)" || return 1
    log "creating database '$5' on $1:$2"
    PGPASSWORD="$4" PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -h "$1" -p "$2" -U "$3" -d postgres \
        -v ON_ERROR_STOP=1 -v db="$5" <<<'CREATE DATABASE :"db"' >/dev/null
}

# is_recorded_private HOST PORT NAME: HOST:PORT is the private server NAME we started before.
is_recorded_private() {
    [[ "$1" == "127.0.0.1" || "$1" == "localhost" ]] || return 1
    [[ -f "$LOCAL_DIR/$3.port" && "$(<"$LOCAL_DIR/$3.port")" == "$2" ]]
}

RESOLVED_DATABASE_URL=""
RESOLVED_DATABASE_HOST=""
resolve_database() {
    local configured="${DATABASE_URL:-}" url
    url="${configured:-$DEFAULT_DATABASE_URL}"
    parse_url "$url" || die "cannot parse DATABASE_URL: $url"
    case "$U_SCHEME" in
        postgresql | postgresql+* | postgres) ;;
        *) die "DATABASE_URL must be a postgresql URL, got scheme '$U_SCHEME'" ;;
    esac
    local host="${U_HOST:-127.0.0.1}" port="${U_PORT:-5432}" user="${U_USER:-postgres}"
    local pass="$U_PASS" db="${U_PATH:-postgres}"
    RESOLVED_DATABASE_HOST="$host"

    if pg_probe_ready "$host" "$port"; then
        local rc=0
        pg_login_ok "$host" "$port" "$user" "$pass" "$db" || rc=$?
        if [[ "$rc" -ne 0 && "$rc" -ne 2 ]] && pg_login_ok "$host" "$port" "$user" "$pass" postgres &&
            pg_create_database "$host" "$port" "$user" "$pass" "$db"; then
            rc=0
        fi
        if [[ "$rc" -eq 0 || "$rc" -eq 2 ]]; then
            log "PostgreSQL answers at $host:$port; using it (database '$db')"
            RESOLVED_DATABASE_URL="$url"
            return 0
        fi
        if [[ -n "$configured" ]]; then
            die "PostgreSQL answers at $host:$port but logging in as '$user' to database" \
                "'$db' failed; fix DATABASE_URL (credentials / database name)"
        fi
        log "PostgreSQL at $host:$port answers but refuses '$user' without a password" \
            "(e.g. the Debian package's own cluster); using a private cluster instead"
    elif [[ -n "$configured" ]] && ! is_recorded_private "$host" "$port" pg; then
        die "DATABASE_URL=$(redact_url "$url") is set but no PostgreSQL answers at $host:$port." \
            "Start that server, fix DATABASE_URL (environment or .env), or unset it to use" \
            "the default (127.0.0.1:5432, else a private server)."
    else
        log "no PostgreSQL answers at $host:$port"
    fi

    local pport
    if pg_private_running; then
        pport="$(<"$LOCAL_DIR/pg.port")"
        ensure_pg_binaries
        log "reusing private PostgreSQL on 127.0.0.1:$pport"
    else
        pg_start_private
        pport="$(<"$LOCAL_DIR/pg.port")"
    fi
    pg_ensure_database "$pport" "$db"
    local scheme="$U_SCHEME"
    [[ "$scheme" == "postgres" ]] && scheme=postgresql
    RESOLVED_DATABASE_URL="${scheme}://postgres@127.0.0.1:${pport}/${db}${U_QUERY}"
    RESOLVED_DATABASE_HOST=127.0.0.1
}

pg_stop_private() {
    local datadir="$PG_DATA"
    [[ -f "$LOCAL_DIR/pg.datadir" ]] && datadir="$(<"$LOCAL_DIR/pg.datadir")"
    if [[ ! -f "$datadir/postmaster.pid" ]]; then
        log "private PostgreSQL: not running"
        return 0
    fi
    if ! PGBIN="$(find_pg_bindir)"; then
        die "cannot stop the private PostgreSQL in $datadir: pg_ctl not found"
    fi
    ensure_pg_owner
    if ! as_pg "$PGBIN/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
        log "private PostgreSQL: not running (stale postmaster.pid)"
        return 0
    fi
    log "stopping private PostgreSQL ($datadir)"
    as_pg "$PGBIN/pg_ctl" -D "$datadir" -m fast -w -t "$START_TIMEOUT" stop >/dev/null ||
        die "pg_ctl stop failed for $datadir"
}

# ---------------------------------------------------------------------------------------
# Redis

readonly REDIS_DIR="$LOCAL_DIR/redis"
readonly REDIS_PIDFILE="$LOCAL_DIR/redis.pid"
readonly REDIS_LOG="$LOCAL_DIR/redis.log"

# redis_ping HOST PORT [PASSWORD] [USER]: the server answers PONG.
redis_ping() {
    local host="$1" port="$2" pass="${3:-}" user="${4:-}"
    if have redis-cli; then
        local args=(-h "$host" -p "$port")
        [[ -n "$user" ]] && args+=(--user "$user")
        local out
        out="$(REDISCLI_AUTH="$pass" with_timeout 5 redis-cli "${args[@]}" ping 2>/dev/null)" ||
            return 1
        [[ "$out" == "PONG" ]]
        return $?
    fi
    with_timeout 5 bash -c '
        exec 9<>"/dev/tcp/$1/$2" || exit 1
        if [[ -n "$3" ]]; then
            if [[ -n "$4" ]]; then printf "AUTH %s %s\r\n" "$4" "$3" >&9
            else printf "AUTH %s\r\n" "$3" >&9; fi
            IFS= read -r line <&9 || exit 1
            [[ "$line" == +OK* ]] || exit 1
        fi
        printf "PING\r\n" >&9
        IFS= read -r line <&9 || exit 1
        [[ "$line" == +PONG* ]]
    ' _ "$host" "$port" "$pass" "$user" 2>/dev/null
}

redis_private_pid() {
    [[ -f "$REDIS_PIDFILE" ]] || return 1
    local pid
    pid="$(<"$REDIS_PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Make sure the pid was not recycled by an unrelated process.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'redis-server' || return 1
    printf '%s' "$pid"
}

redis_private_running() {
    [[ -f "$LOCAL_DIR/redis.port" ]] || return 1
    redis_private_pid >/dev/null || return 1
    redis_ping 127.0.0.1 "$(<"$LOCAL_DIR/redis.port")"
}

redis_start_private() {
    ensure_redis_binary
    mkdir -p "$REDIS_DIR"
    local pid
    if pid="$(redis_private_pid)"; then
        log "stopping stale private Redis (pid $pid)"
        redis_kill_private
    fi
    local port="" attempt
    if [[ -f "$LOCAL_DIR/redis.port" ]]; then
        port="$(<"$LOCAL_DIR/redis.port")"
        port_free "$port" || port=""
    fi
    [[ -n "$port" ]] || port="$(first_free_port "$REDIS_PORT_BASE")"

    for attempt in 1 2 3 4 5; do
        log "starting private Redis on 127.0.0.1:$port (log: $REDIS_LOG)"
        local before=0
        [[ -f "$REDIS_LOG" ]] && before="$(wc -c <"$REDIS_LOG")"
        rm -f "$REDIS_PIDFILE"
        detached "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --daemonize yes --save "" \
            --appendonly no --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" \
            --logfile "$REDIS_LOG" >/dev/null || die "redis-server failed to launch"
        local deadline=$((SECONDS + START_TIMEOUT))
        while ! redis_ping 127.0.0.1 "$port"; do
            if tail -c +"$((before + 1))" "$REDIS_LOG" 2>/dev/null |
                grep -qiE 'address already in use|could not create server tcp listening'; then
                break
            fi
            ((SECONDS < deadline)) ||
                die "private Redis on port $port not ready after ${START_TIMEOUT}s (log: $REDIS_LOG)"
            sleep 0.1
        done
        if redis_ping 127.0.0.1 "$port" && redis_private_pid >/dev/null; then
            printf '%s\n' "$port" >"$LOCAL_DIR/redis.port"
            return 0
        fi
        redis_kill_private
        if [[ "$attempt" -lt 5 ]]; then
            log "port $port was taken meanwhile; trying another"
            port="$(first_free_port "$((port + 1))")"
            continue
        fi
    done
    tail -n 30 "$REDIS_LOG" >&2 || true
    die "private Redis failed to start (log: $REDIS_LOG)"
}

redis_kill_private() {
    local pid
    pid="$(redis_private_pid)" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$REDIS_PIDFILE"
}

# ---------------------------------------------------------------------------------------
# RabbitMQ

readonly RABBITMQ_DIR="$RUNTIME_DIR/rabbitmq"
readonly RABBITMQ_PIDFILE="$LOCAL_DIR/rabbitmq.pid"
readonly RABBITMQ_LOG="$LOCAL_DIR/rabbitmq.log"

RABBITMQ_SERVER=""
ensure_rabbitmq_binary() {
    [[ -n "$RABBITMQ_SERVER" ]] && return 0
    local candidate
    for candidate in /usr/lib/rabbitmq/bin/rabbitmq-server "$(command -v rabbitmq-server || true)"; do
        # Debian's /usr/sbin wrapper runs the system node as the rabbitmq user; the script
        # under /usr/lib/rabbitmq/bin runs a node as whoever calls it.
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            RABBITMQ_SERVER="$candidate"
            return 0
        fi
    done
    if apt_install rabbitmq-server; then
        RABBITMQ_SERVER=""
        ensure_rabbitmq_binary
        return 0
    fi
    die "rabbitmq-server not found, and no RabbitMQ answers at the configured URL." \
        "Install it (Debian/Ubuntu: 'sudo apt-get install rabbitmq-server'; macOS:" \
        "'brew install rabbitmq') or point BROKER_URL at a running RabbitMQ."
}

# amqp_login_ok URL: a broker accepts a login there (kombu from the project's venv), or,
# without the venv, at least speaks AMQP 0-9-1 on that port.
amqp_login_ok() {
    local py="$ROOT_DIR/${VENV:-.venv}/bin/python"
    if [[ -x "$py" ]] && "$py" -c 'import kombu' >/dev/null 2>&1; then
        with_timeout 10 "$py" - "$1" <<'PY' >/dev/null 2>&1
import sys
from kombu import Connection
with Connection(sys.argv[1], connect_timeout=3) as connection:
    connection.ensure_connection(max_retries=0, timeout=3)
PY
        return $?
    fi
    parse_url "$1" || return 1
    with_timeout 5 bash -c '
        exec 9<>"/dev/tcp/$1/$2" || exit 1
        printf "AMQP\x00\x00\x09\x01" >&9
        IFS= read -r -n 1 -d "" byte <&9 || exit 1
        [[ "$byte" == $'"'"'\x01'"'"' ]]
    ' _ "${U_HOST:-127.0.0.1}" "${U_PORT:-5672}" 2>/dev/null
}

rabbitmq_private_pid() {
    [[ -f "$RABBITMQ_PIDFILE" ]] || return 1
    local pid
    pid="$(<"$RABBITMQ_PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    printf '%s' "$pid"
}

rabbitmq_private_url() { printf 'amqp://guest:guest@127.0.0.1:%s//' "$(<"$LOCAL_DIR/rabbitmq.port")"; }

rabbitmq_private_running() {
    [[ -f "$LOCAL_DIR/rabbitmq.port" ]] && rabbitmq_private_pid >/dev/null &&
        amqp_login_ok "$(rabbitmq_private_url)"
}

rabbitmq_start_private() {
    ensure_rabbitmq_binary
    rabbitmq_kill_private
    mkdir -p "$RABBITMQ_DIR"
    local port dist
    port=""
    if [[ -f "$LOCAL_DIR/rabbitmq.port" ]]; then
        port="$(<"$LOCAL_DIR/rabbitmq.port")"
        port_free "$port" || port=""
    fi
    [[ -n "$port" ]] || port="$(first_free_port "$RABBITMQ_PORT_BASE")"
    dist="$(first_free_port "$((port + 20000 > 65000 ? 45000 : port + 20000))")"
    printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$port" >"$RABBITMQ_DIR/rabbitmq.conf"
    : >"$RABBITMQ_DIR/rabbitmq-env.conf"
    printf '[].\n' >"$RABBITMQ_DIR/enabled_plugins"
    log "starting private RabbitMQ on 127.0.0.1:$port (log: $RABBITMQ_LOG)"
    (
        cd "$RABBITMQ_DIR"
        export HOME="$RABBITMQ_DIR" RABBITMQ_CONF_ENV_FILE="$RABBITMQ_DIR/rabbitmq-env.conf"
        export RABBITMQ_CONFIG_FILE="$RABBITMQ_DIR/rabbitmq.conf"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$RABBITMQ_DIR/enabled_plugins"
        export RABBITMQ_NODENAME="plan-$(checkout_hash)@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        export RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist"
        export RABBITMQ_MNESIA_BASE="$RABBITMQ_DIR/mnesia" RABBITMQ_LOG_BASE="$RABBITMQ_DIR/log"
        local fd n
        for fd in /proc/self/fd/*; do
            n="${fd##*/}"
            if [[ "$n" =~ ^[0-9]+$ ]] && ((n > 2)); then
                eval "exec $n>&-" 2>/dev/null || true
            fi
        done
        # A session of its own: the pid written below leads the group that stop kills.
        exec setsid "$RABBITMQ_SERVER" </dev/null >>"$RABBITMQ_LOG" 2>&1
    ) &
    printf '%s\n' "$!" >"$RABBITMQ_PIDFILE"
    printf '%s\n' "$port" >"$LOCAL_DIR/rabbitmq.port"
    local deadline=$((SECONDS + START_TIMEOUT + 30))
    until amqp_login_ok "$(rabbitmq_private_url)"; do
        rabbitmq_private_pid >/dev/null ||
            die "private RabbitMQ exited (log: $RABBITMQ_LOG)"
        ((SECONDS < deadline)) || die "private RabbitMQ not ready (log: $RABBITMQ_LOG)"
        sleep 0.5
    done
}

rabbitmq_kill_private() {
    local pid
    pid="$(rabbitmq_private_pid)" || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL -- "-$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$RABBITMQ_PIDFILE"
}

resolve_rabbitmq() {
    local url="$1" configured="$2"
    local host="${U_HOST:-127.0.0.1}" port="${U_PORT:-5672}"
    if amqp_login_ok "$url"; then
        log "RabbitMQ answers at $host:$port; using it"
        RESOLVED_BROKER_URL="$url"
        return 0
    fi
    if [[ -n "$configured" ]] && ! is_recorded_private "$host" "$port" rabbitmq; then
        die "BROKER_URL=$(redact_url "$url") is set but no RabbitMQ accepts a login at" \
            "$host:$port. Start it, fix BROKER_URL (environment or .env), or unset it."
    fi
    log "no RabbitMQ answers at $host:$port"
    if rabbitmq_private_running; then
        log "reusing private RabbitMQ on 127.0.0.1:$(<"$LOCAL_DIR/rabbitmq.port")"
    else
        rabbitmq_start_private
    fi
    RESOLVED_BROKER_URL="$(rabbitmq_private_url)"
}

RESOLVED_BROKER_URL=""
resolve_broker() {
    local configured="${BROKER_URL:-}" url
    if [[ -z "$configured" && "${BROKER:-redis}" == "rabbitmq" ]]; then
        url="$DEFAULT_RABBITMQ_URL"
    else
        url="${configured:-$DEFAULT_BROKER_URL}"
    fi
    parse_url "$url" || die "cannot parse BROKER_URL: $url"
    case "$U_SCHEME" in
        redis) resolve_redis "$url" "$configured" ;;
        amqp) resolve_rabbitmq "$url" "$configured" ;;
        *) die "BROKER_URL must be a redis:// or amqp:// URL, got scheme '$U_SCHEME'" ;;
    esac
}

resolve_redis() {
    local url="$1" configured="$2"
    local host="${U_HOST:-127.0.0.1}" port="${U_PORT:-6379}" db="${U_PATH:-0}"
    if redis_ping "$host" "$port" "$U_PASS" "$U_USER"; then
        log "Redis answers at $host:$port; using it"
        RESOLVED_BROKER_URL="$url"
        return 0
    fi
    if [[ -n "$configured" ]] && ! is_recorded_private "$host" "$port" redis; then
        die "BROKER_URL=$(redact_url "$url") is set but no Redis answers at $host:$port." \
            "Start it, fix BROKER_URL (environment or .env), or unset it to use the default."
    fi
    log "no Redis answers at $host:$port"

    local rport
    if redis_private_running; then
        rport="$(<"$LOCAL_DIR/redis.port")"
        log "reusing private Redis on 127.0.0.1:$rport"
    else
        redis_start_private
        rport="$(<"$LOCAL_DIR/redis.port")"
    fi
    RESOLVED_BROKER_URL="redis://127.0.0.1:${rport}/${db}${U_QUERY}"
}

# ---------------------------------------------------------------------------------------
# Subcommands

take_lock() {
    mkdir -p "$LOCAL_DIR"
    if have flock; then
        exec 8>"$LOCAL_DIR/services.lock"
        flock -w 300 8 || die "timed out waiting for $LOCAL_DIR/services.lock"
    fi
}

# load_env_file: DATABASE_URL, BROKER_URL and DATABASE_SSL from the dotenv file the settings
# read (ENV_FILE, else .env; ENV_FILE= for none), unless the environment sets them.
load_env_file() {
    local file="${ENV_FILE-$ROOT_DIR/.env}" line key value
    [[ -n "$file" && -f "$file" ]] || return 0
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?(DATABASE_URL|BROKER_URL|DATABASE_SSL)=(.*)$ ]] ||
            continue
        key="${BASH_REMATCH[2]}" value="${BASH_REMATCH[3]}"
        value="${value%\"}" value="${value#\"}" value="${value%\'}" value="${value#\'}"
        [[ -n "${!key+set}" ]] || printf -v "$key" '%s' "$value"
    done <"$file"
}

is_loopback() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }

cmd_env() {
    take_lock
    load_env_file
    resolve_database
    resolve_broker
    printf 'export DATABASE_URL=%q\n' "$RESOLVED_DATABASE_URL" >&3
    printf 'export BROKER_URL=%q\n' "$RESOLVED_BROKER_URL" >&3
    if [[ -n "${DATABASE_SSL:-}" ]]; then
        printf 'export DATABASE_SSL=%q\n' "$DATABASE_SSL" >&3
    elif is_loopback "$RESOLVED_DATABASE_HOST"; then
        printf 'export DATABASE_SSL=false\n' >&3
    fi
}

cmd_stop() {
    take_lock
    pg_stop_private
    if redis_private_pid >/dev/null; then
        log "stopping private Redis (pid $(redis_private_pid))"
        redis_kill_private
    else
        log "private Redis: not running"
    fi
    if rabbitmq_private_pid >/dev/null; then
        log "stopping private RabbitMQ (pid $(rabbitmq_private_pid))"
        rabbitmq_kill_private
    else
        log "private RabbitMQ: not running"
    fi
}

cmd_status() {
    local url host port
    url="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
    if parse_url "$url"; then
        host="${U_HOST:-127.0.0.1}" port="${U_PORT:-5432}"
        if pg_probe_ready "$host" "$port"; then
            echo "postgres  configured $host:$port: answering"
        else
            echo "postgres  configured $host:$port: not answering"
        fi
    fi
    if pg_private_running; then
        echo "postgres  private 127.0.0.1:$(<"$LOCAL_DIR/pg.port"): running (data: $PG_DATA)"
    else
        echo "postgres  private: not running"
    fi
    url="${BROKER_URL:-$DEFAULT_BROKER_URL}"
    if parse_url "$url"; then
        host="${U_HOST:-127.0.0.1}" port="${U_PORT:-6379}"
        if redis_ping "$host" "$port" "$U_PASS" "$U_USER"; then
            echo "redis     configured $host:$port: answering"
        else
            echo "redis     configured $host:$port: not answering"
        fi
    fi
    if redis_private_running; then
        echo "redis     private 127.0.0.1:$(<"$LOCAL_DIR/redis.port"): running (pid $(redis_private_pid))"
    else
        echo "redis     private: not running"
    fi
}

usage() {
    echo "usage: bash scripts/services.sh {env|stop|status|rabbitmq-binary}"
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
        env)
            # If anything fails, make `eval "$(... env)"` fail too.
            trap 'rc=$?; if [[ $rc -ne 0 ]]; then echo false >&3; fi' EXIT
            cmd_env
            ;;
        stop) cmd_stop ;;
        rabbitmq-binary) ensure_rabbitmq_binary && printf '%s\n' "$RABBITMQ_SERVER" >&3 ;;
        status) cmd_status ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
