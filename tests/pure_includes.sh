#!/usr/bin/env bash
# Fails when a file of the pure library (adapters/mail, adapters/analysis, the IMAP response
# parser, the providers' JSON readers) includes an I/O header or an I/O part of mailpipe.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
files=$(ls adapters/mail/* adapters/analysis/* adapters/imap/response_parser.* \
  adapters/providers/*_json.* 2>/dev/null)
forbidden='#include *[<"](pqxx/|libpq|postgresql/|curl/|openssl/|sys/socket|netdb|arpa/|netinet/|caf/io/|caf/openssl/|httplib|spdlog/sinks|adapters/(db|http|sys)/|adapters/imap/(client|connection)|adapters/providers/(gmail|graph)\.)'
if grep -nE "$forbidden" $files; then
  echo "pure_includes: the lines above include I/O code into the pure library" >&2
  exit 1
fi
echo "pure_includes: $(echo "$files" | wc -w) files, no I/O include"
