#!/bin/sh
# Writes expect.json from tshark's dissection of each pcap (tshark decodes
# the TLS after the preamble when told the port's protocol; FTP's AUTH TLS
# is not followed by tshark 4.0, so its port is decoded as TLS directly).
# preamble is the protocol capture.sh ran; offset is tshark's relative
# tcp.seq of the hello's first byte minus 1 (the stream offset).
set -eu
{
  echo "["
  sep=""
  for spec in "connect_curl 3128 http http-connect" "ftp_curl 2121 tls ftp" "imap_curl 1144 imap imap" \
    "imap_openssl 1143 imap imap" "ldap_openssl 3389 ldap ldap" "mysql_openssl 3307 mysql mysql" \
    "pop3_openssl 1110 pop pop3" "postgres_openssl 5433 pgsql postgresql" "smtp_openssl 2525 smtp smtp" \
    "socks4_curl 1081 socks socks4" "socks5_curl 1080 socks socks5" "xmpp_openssl 5222 xmpp xmpp"; do
    set -- $spec
    tshark -r "$1.pcap" -d "tcp.port==$2,$3" -Y 'tls.handshake.type==1' -T fields -E separator='|' \
      -e frame.number -e tcp.seq -e tls.handshake.extensions_server_name -e tls.handshake.extensions_alpn_str \
      -e tls.handshake.ja3_full -e tls.handshake.ja3 2>/dev/null | head -1 |
    while IFS='|' read -r frame seq sni alpn ja3 ja3h; do
      printf '%s  {"file": "%s.pcap", "decode_as": "%s", "preamble": "%s", "tshark_frame": %s, "tshark_tcp_seq": %s, "sni": "%s", "alpn": "%s", "ja3": "%s", "ja3_hash": "%s"}\n' \
        "$sep" "$1" "$3" "$4" "$frame" "$seq" "$sni" "$alpn" "$ja3" "$ja3h"
    done
    sep=","
  done
  echo "]"
} > expect.json
