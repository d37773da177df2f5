# Shared helpers for scripts/test and scripts/demo. Sourced, not run.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing (needs root or sudo).
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq || die "apt-get update failed; install ${missing[*]} by hand"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# Starts a throwaway PostgreSQL 15 in a temporary directory on a free loopback port and
# exports TEST_DATABASE_URL. Stopped by stop_postgres (trap it).
start_postgres() {
  local bin=/usr/lib/postgresql/15/bin
  [ -x "$bin/postgres" ] || ensure_packages postgresql-15
  PG_DIR=$(mktemp -d /tmp/companion-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  # A free port: try a few random ones (no python or ss needed on a bare machine).
  local try
  for try in 1 2 3 4 5; do
    PG_PORT=$(( 20000 + RANDOM % 30000 ))
    say "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
    if [ "$try" -eq 1 ]; then
      "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log"; die "initdb failed"; }
    fi
    if "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=400 -c shared_buffers=256MB" \
      start >/dev/null; then
      break
    fi
    [ "$try" -eq 5 ] && { cat "$PG_DIR/postgres.log"; die "PostgreSQL did not start"; }
  done
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  local run=()
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  "${run[@]}" /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
