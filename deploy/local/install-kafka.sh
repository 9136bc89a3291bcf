#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars (with dependencies) from Maven Central into $1 (default .pantau/kafka/libs).
# Idempotent: a complete libs folder (marked by .complete) is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
libs=${1:-$here/../../.pantau/kafka/libs}
if [ -f "$libs/.complete" ]; then exit 0; fi
command -v java >/dev/null || { echo "install-kafka: java (17+) is required" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka: mvn is required" >&2; exit 1; }
mkdir -p "$libs"
mvn -q -B -f "$here/kafka-pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
ls "$libs"/kafka_2.13-*.jar >/dev/null
touch "$libs/.complete"
echo "install-kafka: $(ls "$libs" | wc -l) jars in $libs" >&2
