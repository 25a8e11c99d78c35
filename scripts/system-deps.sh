#!/bin/sh
# Installs the system packages bitprop builds against (FLINT 2.9 + GMP headers, Arb 2.23 for
# certified ball arithmetic, a C compiler)
# when they are missing. Debian/Ubuntu; run as root (or with sudo available).
set -e
if [ -e /usr/include/flint/fmpq.h ] && [ -e /usr/include/arb.h ] && command -v cc >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libflint-dev libflint-arb-dev libgmp-dev gcc >/dev/null
