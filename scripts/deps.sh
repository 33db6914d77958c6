#!/bin/sh
# deps.sh SET...: make sure the Debian packages a make target needs are
# installed, installing the missing ones with apt-get (as root). The sets:
#   build  compiler, pkg-config, libraries, python3 (generates tables)
#   test   unit-test library and pytest (end-to-end tests)
#   fuzz   clang with libFuzzer
#   format clang-format
#   bench  the peers benchmarks compare with (rsyslog)
set -eu

pkgs_build="gcc make pkg-config python3 libseccomp-dev libjansson-dev libssl-dev libyaml-dev libuv1-dev nftables iproute2
    libhttp-parser-dev libcurl4-openssl-dev librdkafka-dev libzstd-dev zlib1g-dev"
pkgs_test="libcmocka-dev python3-pytest curl openssl kcat zstd chromium"
pkgs_fuzz="clang libclang-rt-14-dev"
pkgs_bench="rsyslog rsyslog-kafka tinyproxy squid"
pkgs_format="clang-format"

want=""
for set in "$@"; do
    eval "want=\"\$want \$pkgs_$set\""
done

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *" installed") ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; install them with: sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q $missing
}
# the bench runs its own squid and tinyproxy: the system services would take
# port 3128 (tollgate's) and 8888
case " $* " in
*" bench "*) command -v systemctl >/dev/null 2>&1 &&
    systemctl disable --now squid tinyproxy >/dev/null 2>&1 || true ;;
esac
