#!/bin/sh
# Installs the system packages bitprop builds against (FLINT 2.9 + GMP headers, a C compiler)
# when they are missing. Debian/Ubuntu; run as root (or with sudo available).
set -e
if [ -e /usr/include/flint/fmpq.h ] && command -v cc >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libflint-dev libgmp-dev gcc >/dev/null
