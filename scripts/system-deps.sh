#!/usr/bin/env bash
# Debian packages the tests need: xmllint (draft grammar check) and
# docker-compose (parses docker-compose.yml; no engine is needed), openssl (test
# certificates for the TLS tests).
set -u
need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ "${#need[@]}" -eq 0 ] && exit 0
echo "installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
{ $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"; } >/dev/null 2>&1 \
  || { echo "could not install ${need[*]}" >&2; exit 1; }
