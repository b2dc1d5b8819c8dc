#!/usr/bin/env bash
# Installs the real observability components the e2e (`make e2e`) runs as
# local processes, once per machine, into ${XDG_CACHE_HOME:-~/.cache}/keeptrusts/bin:
#
#   otelcol-keeptrusts  OpenTelemetry Collector built with the Collector Builder
#                       (go.opentelemetry.io/collector/cmd/builder) from
#                       deploy/otelcol/builder-config.yaml
#   jaeger              Jaeger v2 (module github.com/jaegertracing/jaeger, cmd/jaeger)
#   prometheus, promtool  Debian's prometheus package (apt-get; needs root)
#
# The three installs run in parallel; each is skipped when its binary is
# there and its stamp (pinned version + manifest hash) matches. Build logs and
# timings go to the cache directory; OBS_TOOLS_FORCE=1 rebuilds everything.
# Prints the bin directory's path as its last line.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/keeptrusts
BIN=$CACHE/bin
LOGS=$CACHE/logs
GO=${GO:-go}

OCB_VERSION=v0.165.0
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_VERSION=v1.76.0 # Jaeger 2.13
OCB_MANIFEST=$REPO/deploy/otelcol/builder-config.yaml

mkdir -p "$BIN" "$LOGS"

# stamp_ok NAME WANT: the binary exists and was built from WANT.
stamp_ok() {
  [ -z "${OBS_TOOLS_FORCE:-}" ] && [ -x "$BIN/$1" ] && [ -f "$BIN/.$1.stamp" ] &&
    [ "$(cat "$BIN/.$1.stamp")" = "$2" ]
}

# timed NAME CMD...: runs CMD, logging to $LOGS/NAME.log and the duration to
# $LOGS/NAME.time, so the cold build times can be reported.
timed() {
  local name=$1 start end
  shift
  start=$(date +%s)
  if "$@" >"$LOGS/$name.log" 2>&1; then
    end=$(date +%s)
    echo "$((end - start))s" >"$LOGS/$name.time"
    echo "obs-tools: $name ready in $((end - start))s"
  else
    echo "obs-tools: $name FAILED; last lines of $LOGS/$name.log:" >&2
    tail -n 30 "$LOGS/$name.log" >&2
    return 1
  fi
}

build_otelcol() {
  local want
  want="ocb $OCB_VERSION $(sha256sum "$OCB_MANIFEST" | cut -d' ' -f1)"
  if stamp_ok otelcol-keeptrusts "$want"; then
    echo "obs-tools: otelcol-keeptrusts up to date"
    return 0
  fi
  local work=$CACHE/build/otelcol
  rm -rf "$work" && mkdir -p "$work"
  GOBIN=$CACHE/tools timed ocb-install "$GO" install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  # The manifest's output_path is relative: generate and build in $work.
  (cd "$work" && timed otelcol "$CACHE/tools/builder" --config "$OCB_MANIFEST")
  install -m 0755 "$work/otelcol-keeptrusts/otelcol-keeptrusts" "$BIN/otelcol-keeptrusts"
  echo "$want" >"$BIN/.otelcol-keeptrusts.stamp"
}

build_jaeger() {
  local want="$JAEGER_MODULE $JAEGER_VERSION"
  if stamp_ok jaeger "$want"; then
    echo "obs-tools: jaeger up to date"
    return 0
  fi
  # `go install module@version` refuses a module whose go.mod has replace
  # directives, so build inside a writable copy of the downloaded module.
  local dir work=$CACHE/build/jaeger
  dir=$("$GO" mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "obs-tools: cannot download $JAEGER_MODULE@$JAEGER_VERSION" >&2; return 1; }
  rm -rf "$work" && mkdir -p "$work"
  cp -r "$dir/." "$work/" && chmod -R u+w "$work"
  (cd "$work" && GOFLAGS=-mod=mod timed jaeger "$GO" build -trimpath -ldflags '-s -w' -o "$BIN/jaeger" ./cmd/jaeger)
  rm -rf "$work"
  echo "$want" >"$BIN/.jaeger.stamp"
}

install_prometheus() {
  if [ -z "${OBS_TOOLS_FORCE:-}" ] && [ -x "$BIN/prometheus" ] && [ -x "$BIN/promtool" ]; then
    echo "obs-tools: prometheus up to date ($("$BIN/prometheus" --version 2>&1 | head -n1))"
    return 0
  fi
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "obs-tools: prometheus and promtool are missing; install them as root with" >&2
      echo "obs-tools:   apt-get install -y prometheus   (Debian/Ubuntu)" >&2
      echo "obs-tools: or put both binaries in $BIN" >&2
      return 1
    fi
    # The package's postinst tries to start a service; there is no init here
    # and policy-rc.d may refuse: that is fine, only the binaries are used.
    timed prometheus-apt sh -c 'export DEBIAN_FRONTEND=noninteractive; (apt-get install -y --no-install-recommends prometheus || { apt-get update && apt-get install -y --no-install-recommends prometheus; })'
  fi
  ln -sf "$(command -v prometheus)" "$BIN/prometheus"
  ln -sf "$(command -v promtool)" "$BIN/promtool"
}

pids=() names=()
build_otelcol & pids+=($!) names+=(otelcol)
build_jaeger & pids+=($!) names+=(jaeger)
install_prometheus & pids+=($!) names+=(prometheus)
fail=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "obs-tools: ${names[$i]} failed" >&2
    fail=1
  fi
done
[ "$fail" = 0 ] || exit 1
echo "$BIN"
