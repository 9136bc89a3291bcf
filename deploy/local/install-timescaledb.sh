#!/usr/bin/env bash
# Builds the TimescaleDB extension (Apache-2 part) for PostgreSQL 15 from Debian's source package.
# Debian 12 ships no TimescaleDB; trixie's source package builds here against postgresql-server-dev-15.
# The trixie deb-src list lives in a private apt state folder so the machine's apt setup is untouched.
# Idempotent: does nothing when the extension is already installed for this PostgreSQL.
set -euo pipefail
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
work=${1:-$(cd "$(dirname "$0")/../.." && pwd)/.pantau/build/timescaledb}

sharedir() { "$PG_CONFIG" --sharedir 2>/dev/null || echo /usr/share/postgresql/$PG_MAJOR; }
if [ -x "$PG_CONFIG" ] && ls "$(sharedir)"/extension/timescaledb.control >/dev/null 2>&1 \
   && ls "$("$PG_CONFIG" --pkglibdir)"/timescaledb-2*.so >/dev/null 2>&1; then
  exit 0
fi

need=()
[ -x /usr/lib/postgresql/$PG_MAJOR/bin/postgres ] || need+=(postgresql-$PG_MAJOR postgresql-contrib)
[ -x "$PG_CONFIG" ] || need+=(postgresql-server-dev-$PG_MAJOR)
command -v cmake >/dev/null || need+=(cmake)
command -v gcc >/dev/null || need+=(gcc)
dpkg -s postgresql-server-dev-$PG_MAJOR >/dev/null 2>&1 || need+=(postgresql-server-dev-$PG_MAJOR)
dpkg -s xz-utils >/dev/null 2>&1 || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-timescaledb: apt-get install ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
echo "deb-src http://deb.debian.org/debian trixie main" > "$work/apt/trixie-src.list"
apt_opts=(-oDir::Etc::SourceList="$work/apt/trixie-src.list" -oDir::Etc::SourceParts=/dev/null
          -oDir::State::Lists="$work/apt/lists" -oDir::Cache="$work/apt/cache"
          -oAPT::Sandbox::User=root)
cd "$work/src"
if ! ls timescaledb_*.orig.tar.* >/dev/null 2>&1; then
  apt-get "${apt_opts[@]}" update -qq >&2
  apt-get "${apt_opts[@]}" source --download-only timescaledb >&2
fi
orig=$(ls timescaledb_*.orig.tar.* | head -n1)
rm -rf tree && mkdir tree
tar -xf "$orig" -C tree --strip-components=1
cd tree
./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
  -DUSE_TELEMETRY=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >&2
make -C build -j"$(nproc)" >&2
make -C build install >&2
echo "install-timescaledb: installed $(basename "$orig")" >&2
