#!/usr/bin/env bash
# Installs the Debian packages the local stack needs, only those missing: Java 17 and Maven (the
# Kafka broker), PostgreSQL 15 with its server headers, cmake and gcc (the TimescaleDB build),
# Chromium (the browser tests), Mosquitto (the MQTT tests) and GStreamer's RTSP server (the RTSP
# camera tests).
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15 postgresql-contrib)
[ -x /usr/lib/postgresql/15/bin/pg_config ] || need+=(postgresql-server-dev-15)
command -v cmake >/dev/null || need+=(cmake)
command -v gcc >/dev/null || need+=(gcc)
command -v runuser >/dev/null || need+=(util-linux)
dpkg -s xz-utils >/dev/null 2>&1 || need+=(xz-utils)
# The browser tests drive Debian's Chromium with Playwright (a browser download would fail offline).
[ -x /usr/bin/chromium ] || need+=(chromium)
# The MQTT bridge tests start their own Mosquitto broker (the system service stays disabled).
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# The RTSP camera tests serve a test pattern with GStreamer's RTSP server, run by the system Python.
[ -f /usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib ] || need+=(gir1.2-gst-rtsp-server-1.0)
[ -f /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstjpeg.so ] || need+=(gstreamer1.0-plugins-good)
[ -f /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvideotestsrc.so ] || need+=(gstreamer1.0-plugins-base)
dpkg -s python3-gi >/dev/null 2>&1 || need+=(python3-gi)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system: missing ${need[*]}; run as root or install them with apt-get" >&2
  exit 1
fi
echo "install-system: apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
