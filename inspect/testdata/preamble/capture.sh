#!/bin/sh
# Records real clients' TLS after a plaintext preamble on loopback, one pcap
# per protocol, then prints what tshark sees in each (the values recorded
# in expect.json). Needs: python3, openssl, curl, tcpdump, tshark. Run as
# root from this directory: ./capture.sh
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 2>/dev/null

# name mode port tshark-decode-as client...
run() {
  name=$1 mode=$2 port=$3; shift 3
  tcpdump -i lo -U -s 0 -w "$name.pcap" "tcp port $port" 2>/dev/null &
  dump=$!
  sleep 1
  python3 responder.py "$mode" "$port" "$tmp/cert.pem" "$tmp/key.pem" &
  resp=$!
  sleep 2
  "$@" </dev/null >/dev/null 2>&1 || true
  wait "$resp" || true
  sleep 1
  kill "$dump"; wait "$dump" || true
}

run smtp_openssl smtp 2525 openssl s_client -starttls smtp -connect 127.0.0.1:2525 -servername mail.example
run imap_openssl imap 1143 openssl s_client -starttls imap -connect 127.0.0.1:1143 -servername imap.example
run imap_curl imap 1144 curl -sk --ssl-reqd imap://127.0.0.1:1144/
run pop3_openssl pop3 1110 openssl s_client -starttls pop3 -connect 127.0.0.1:1110 -servername pop.example
run ftp_curl ftp 2121 curl -sk --ssl-reqd ftp://127.0.0.1:2121/
run xmpp_openssl xmpp 5222 openssl s_client -starttls xmpp -xmpphost example.com -connect 127.0.0.1:5222
run ldap_openssl ldap 3389 openssl s_client -starttls ldap -connect 127.0.0.1:3389
run postgres_openssl postgres 5433 openssl s_client -starttls postgres -connect 127.0.0.1:5433
run mysql_openssl mysql 3307 openssl s_client -starttls mysql -connect 127.0.0.1:3307
run connect_curl connect 3128 curl -sk -x http://127.0.0.1:3128 https://localhost:8443/
run socks5_curl socks5 1080 curl -sk --socks5-hostname 127.0.0.1:1080 https://localhost:8443/
run socks4_curl socks4 1081 curl -sk --socks4 127.0.0.1:1081 https://127.0.0.1:8443/
