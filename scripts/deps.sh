#!/bin/sh
# deps.sh SET...: make sure the Debian packages a make target needs are
# installed, installing the missing ones with apt-get (as root). The sets:
#   build  compiler, pkg-config, libraries, python3 (generates tables), clang
#          and libbpf-dev (the BPF program of proxy/ident_bpf.c)
#   test   unit-test library and pytest (end-to-end tests), promtool (Debian's
#          prometheus: `promtool check metrics` on a live /metrics), Node.js and
#          npm (the kafkajs consumer test installs kafkajs from npm itself)
#   fuzz   clang with libFuzzer
#   format clang-format
#   bench  the peers benchmarks compare with (rsyslog)
set -eu

pkgs_build="gcc make pkg-config python3 libseccomp-dev libjansson-dev libssl-dev libyaml-dev libuv1-dev nftables iproute2
    libhttp-parser-dev libcurl4-openssl-dev librdkafka-dev libzstd-dev zlib1g-dev clang libbpf-dev"
pkgs_test="libcmocka-dev python3-pytest curl openssl kcat zstd chromium prometheus nodejs"
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
# Node.js from elsewhere (NodeSource) ships npm inside nodejs; Debian's does not
case " $want " in
*" nodejs "*) command -v npm >/dev/null 2>&1 || missing="$missing npm" ;;
esac
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; install them with: sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# prometheus is wanted for promtool only: no recommends (node-exporter), and
# its server is not started (a policy-rc.d refuses starts while it installs)
only_tools="" rest=""
for p in $missing; do
    case "$p" in
    prometheus) only_tools="$only_tools $p" ;;
    *) rest="$rest $p" ;;
    esac
done
if [ -n "$rest" ]; then
    apt-get install -y -q $rest >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q $rest
    }
fi
if [ -n "$only_tools" ]; then
    rcd=/usr/sbin/policy-rc.d made=""
    if [ ! -e "$rcd" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$rcd" && chmod 755 "$rcd" && made=1
    fi
    apt-get install -y -q --no-install-recommends $only_tools >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends $only_tools
    } || { [ -n "$made" ] && rm -f "$rcd"; exit 1; }
    [ -n "$made" ] && rm -f "$rcd"
    command -v systemctl >/dev/null 2>&1 && systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
# the bench runs its own squid and tinyproxy: the system services would take
# port 3128 (tollgate's) and 8888
case " $* " in
*" bench "*) command -v systemctl >/dev/null 2>&1 &&
    systemctl disable --now squid tinyproxy >/dev/null 2>&1 || true ;;
esac
