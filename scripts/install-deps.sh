#!/bin/sh
# Install what building and testing vits needs on Debian/Ubuntu.
set -eu
pkgs="build-essential cmake ninja-build clang clang-format pkg-config libcmocka-dev libfdt-dev device-tree-compiler afl++"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
