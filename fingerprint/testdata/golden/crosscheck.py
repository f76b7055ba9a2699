#!/usr/bin/env python3
"""Independent cross-check of the golden ClientHello expectations.

Written separately from the Go parser (different language, no shared code) from
the text of the specifications: JA3 (Salesforce), JA4 (FoxIO technical details),
PeetPrint (TrackMe's fingerprint_tls.go semantics) and DESIGN.md section 4.2.
Usage: crosscheck.py NAME.hello [--shuffles]  -> prints the expectation JSON.
The expectations committed beside it were produced by this script and compared
field by field with the Go implementation and with tshark's JA3.
"""
import hashlib, json, struct, sys

def grease(v): return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)

def records_to_message(b):
    if b[0] == 0x01:
        return b
    msg = b""
    i = 0
    while i < len(b):
        assert b[i] == 0x16, "not a handshake record"
        n = struct.unpack(">H", b[i+3:i+5])[0]
        msg += b[i+5:i+5+n]
        i += 5 + n
    return msg

def u16list(d):
    return [struct.unpack(">H", d[i:i+2])[0] for i in range(0, len(d), 2)]

def parse(msg):
    assert msg[0] == 1
    n = int.from_bytes(msg[1:4], "big")
    body = msg[4:4+n]
    p = 0
    legacy = struct.unpack(">H", body[p:p+2])[0]; p += 2 + 32
    sid = body[p]; p += 1 + sid
    cl = struct.unpack(">H", body[p:p+2])[0]; p += 2
    ciphers = u16list(body[p:p+cl]); p += cl
    cm = body[p]; p += 1 + cm
    el = struct.unpack(">H", body[p:p+2])[0]; p += 2
    exts = []
    end = p + el
    while p < end:
        t, l = struct.unpack(">HH", body[p:p+4]); p += 4
        exts.append((t, body[p:p+l])); p += l
    return legacy, ciphers, exts

def main():
    path = sys.argv[1]
    shuffles = "--shuffles" in sys.argv
    raw = open(path, "rb").read()
    legacy, ciphers, exts = parse(records_to_message(raw))
    ext = {t: d for t, d in exts}
    sni = ""
    if 0 in ext:
        d = ext[0]; sni = d[5:5+struct.unpack(">H", d[3:5])[0]].decode()
    alpn = []
    if 16 in ext:
        d = ext[16][2:]
        while d:
            alpn.append(d[1:1+d[0]]); d = d[1+d[0]:]
    groups = u16list(ext[10][2:]) if 10 in ext else []
    points = list(ext[11][1:]) if 11 in ext else []
    sigalgs = u16list(ext[13][2:]) if 13 in ext else []
    versions = u16list(ext[43][1:]) if 43 in ext else []
    pskmodes = list(ext[45][1:]) if 45 in ext else []
    certcomp = u16list(ext[27][1:]) if 27 in ext else []
    ng = lambda xs: [x for x in xs if not grease(x)]
    ext_ids = [t for t, _ in exts]

    ja3 = ",".join([str(legacy), "-".join(map(str, ng(ciphers))), "-".join(map(str, ng(ext_ids))),
                    "-".join(map(str, ng(groups))), "-".join(map(str, points))])
    ja3n = ",".join([str(legacy), "-".join(map(str, ng(ciphers))), "-".join(map(str, sorted(ng(ext_ids)))),
                     "-".join(map(str, ng(groups))), "-".join(map(str, points))])
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    sha12 = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"

    vmax = max(ng(versions)) if ng(versions) else legacy
    vmap = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0200: "s2", 0x0002: "s2",
            0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}
    a = "t" + vmap.get(vmax, "00") + ("d" if 0 in ext else "i")
    a += "%02d%02d" % (min(len(ng(ciphers)), 99), min(len(ng(ext_ids)), 99))
    if alpn and alpn[0]:
        v = alpn[0]
        if chr(v[0]).isalnum() and chr(v[-1]).isalnum() and v[0] < 128 and v[-1] < 128:
            a += chr(v[0]) + chr(v[-1])
        else:
            h = v.hex(); a += h[0] + h[-1]
    else:
        a += "00"
    hx = lambda xs: ",".join("%04x" % x for x in xs)
    cs_sorted = hx(sorted(ng(ciphers)))
    ex_sorted = hx(sorted(x for x in ng(ext_ids) if x not in (0, 16)))
    sa = hx(ng(sigalgs))
    c_r = ex_sorted + ("_" + sa if sa else "")
    ja4 = a + "_" + sha12(cs_sorted) + "_" + (sha12(c_r) if ex_sorted or sa else "000000000000")
    ja4_r = a + "_" + cs_sorted + "_" + c_r
    cs_orig = hx(ng(ciphers))
    ex_orig = hx(ng(ext_ids))
    c_ro = ex_orig + ("_" + sa if sa else "")
    ja4_o = a + "_" + sha12(cs_orig) + "_" + (sha12(c_ro) if ex_orig or sa else "000000000000")
    ja4_ro = a + "_" + cs_orig + "_" + c_ro

    g = lambda x: "GREASE" if grease(x) else str(x)
    protos = []
    for p in alpn:
        s = p.decode(errors="replace").lower()
        if s in ("h2", "http/1.1", "http/1.0"):
            protos.append({"h2": "2", "http/1.1": "1.1", "http/1.0": "1.0"}[s])
    peet = "|".join([
        "-".join(g(v) for v in versions),
        "-".join(protos),
        "-".join(g(x) for x in groups),
        "-".join(g(x) for x in sigalgs),
        str(pskmodes[0]) if pskmodes else "0",
        "-".join(str(x) for x in certcomp),
        "-".join(g(x) for x in ciphers),
        "-".join(sorted(g(x) for x in ext_ids)),
    ])
    out = {
        "client": "", "shuffles_extensions": shuffles, "sni": sni,
        "alpn": [p.decode(errors="replace") for p in alpn], "max_version": "0x%04x" % vmax,
        "ja3": "" if shuffles else ja3, "ja3_hash": "" if shuffles else md5(ja3),
        "ja3n": ja3n, "ja3n_hash": md5(ja3n), "ja4": ja4, "ja4_r": ja4_r,
        "ja4_o": "" if shuffles else ja4_o, "ja4_ro": "" if shuffles else ja4_ro,
        "peetprint": peet, "peetprint_hash": md5(peet),
    }
    print(json.dumps(out, indent=2))

main()
