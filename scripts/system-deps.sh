#!/usr/bin/env bash
# System packages ccpm needs beyond PyPI: a CJK font for Simplified-Chinese reports,
# poppler-utils (pdftoppm/pdftotext) for looking at rendered PDFs, and a Java runtime (17+)
# for the optional Spark engine (`--engine spark`; its tests run when Java is present).
# Idempotent: does nothing when they are present. Needs root (or sudo) only when installing.
set -euo pipefail
need=()
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk fontconfig)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || need+=(openjdk-17-jre-headless)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: please install a CJK font (e.g. Noto Sans CJK SC) and poppler; no apt-get here" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
