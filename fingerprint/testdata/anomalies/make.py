#!/usr/bin/env python3
"""Builds ClientHellos with extension anomalies (and the JA4_o SNI-only
cases) as raw records NAME.hello, sends each over loopback while tcpdump
records anomalies.pcap, and writes tshark's view of each hello into
tshark.json. Run as root from this directory: ./make.py
"""
import json, os, socket, struct, subprocess, time

def u16(v): return struct.pack(">H", v)
def vec8(b): return bytes([len(b)]) + b
def vec16(b): return u16(len(b)) + b
def ext(t, data): return u16(t) + vec16(data)
def sni(host): return ext(0, vec16(b"\x00" + vec16(host.encode())))
def alpn(*protos): return ext(16, vec16(b"".join(vec8(p.encode()) for p in protos)))
def groups(*gs): return ext(10, vec16(b"".join(u16(g) for g in gs)))
def points(*ps): return ext(11, vec8(bytes(ps)))
def sigalgs(*ss): return ext(13, vec16(b"".join(u16(s) for s in ss)))
def versions(*vs): return ext(43, vec8(b"".join(u16(v) for v in vs)))
def keyshare(g, n): return ext(51, vec16(u16(g) + vec16(b"\x11" * n)))
EMS = ext(23, b"")
RENEG = ext(0xff01, b"\x00")

CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]

def hello(exts, ciphers=CIPHERS):
    body = u16(0x0303) + bytes(range(32)) + vec8(bytes(range(32))) + vec16(b"".join(u16(c) for c in ciphers)) + vec8(b"\x00")
    body += vec16(b"".join(exts))
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + vec16(msg)

TLS13 = [groups(29, 23, 24), sigalgs(0x0403, 0x0804, 0x0401), versions(0x0304, 0x0303), keyshare(29, 32)]
HELLOS = {
    # An ALPN list whose first protocol name is empty.
    "alpn_empty_name": hello([sni("anomaly.example"), alpn("", "h2"), points(0), EMS, RENEG] + TLS13),
    # ec_point_formats with an empty list.
    "ec_point_formats_empty": hello([sni("anomaly.example"), alpn("h2", "http/1.1"), points(), EMS, RENEG] + TLS13),
    # supported_groups with an odd length (a stray byte).
    "groups_odd_length": hello([sni("anomaly.example"), ext(10, vec16(u16(29) + u16(23) + b"\x00")), points(0), sigalgs(0x0403), versions(0x0304), keyshare(29, 32)]),
    # extended_master_secret twice, and data in it.
    "duplicate_ems": hello([sni("anomaly.example"), EMS, points(0), ext(23, b"\x01")] + TLS13),
    # Only SNI: JA4_o differs between FoxIO's Python and Rust tools.
    "only_sni": hello([sni("anomaly.example")], ciphers=[0xc02f, 0x009c]),
    # Only SNI and ALPN.
    "only_sni_alpn": hello([sni("anomaly.example"), alpn("http/1.1")], ciphers=[0xc02f, 0x009c]),
}

for name, rec in HELLOS.items():
    with open(name + ".hello", "wb") as f:
        f.write(rec)

port = 4443
dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", "anomalies.pcap", "tcp port %d" % port],
                        stderr=subprocess.DEVNULL)
time.sleep(1.5)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
order = []
for name, rec in HELLOS.items():
    c = socket.create_connection(("127.0.0.1", port)); s, _ = srv.accept()
    c.sendall(rec); s.recv(65536); time.sleep(0.2); c.close(); s.close()
    order.append(name)
time.sleep(1.5)
dump.terminate(); dump.wait()

out = subprocess.run(["tshark", "-r", "anomalies.pcap", "-d", "tcp.port==%d,tls" % port, "-Y", "tls.handshake.type==1",
                      "-T", "fields", "-E", "separator=|", "-e", "tcp.stream", "-e", "tls.handshake.extensions_server_name",
                      "-e", "tls.handshake.extensions_alpn_str", "-e", "tls.handshake.ja3_full", "-e", "tls.handshake.ja3",
                      "-e", "_ws.expert.message"],
                     capture_output=True, text=True, check=True).stdout
res = {}
for line in out.splitlines():
    stream, sni_, alpn_, ja3, ja3h, expert = line.split("|")
    res[order[int(stream)]] = {"sni": sni_, "alpn": alpn_, "ja3": ja3, "ja3_hash": ja3h, "expert": expert}
with open("tshark.json", "w") as f:
    json.dump(res, f, indent=2, sort_keys=True)
    f.write("\n")
print(json.dumps(res, indent=1))
