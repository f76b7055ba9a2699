#!/usr/bin/env python3
"""Tiny loopback responders that speak just enough of a protocol for a real
client to reach its TLS handshake: used by capture.sh to record STARTTLS,
proxy and database TLS preambles. One connection, then exit.

usage: responder.py MODE PORT CERT KEY
"""
import socket
import ssl
import sys

mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def lines(f):
    while True:
        line = f.readline()
        if not line:
            return
        yield line.decode("latin-1").rstrip("\r\n")


def readn(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def until(c, marker):
    b = b""
    while marker not in b:
        chunk = c.recv(4096)
        if not chunk:
            raise EOFError
        b += chunk
    return b


def preamble(c):
    f = c.makefile("rb", buffering=0)
    if mode == "smtp":
        c.sendall(b"220 mail.example ESMTP\r\n")
        for line in lines(f):
            cmd = line.split(" ")[0].upper()
            if cmd in ("EHLO", "HELO"):
                c.sendall(b"250-mail.example\r\n250 STARTTLS\r\n")
            elif cmd == "STARTTLS":
                c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                return
            else:
                c.sendall(b"250 OK\r\n")
    elif mode == "imap":
        c.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        for line in lines(f):
            tag, _, cmd = line.partition(" ")
            if cmd.upper() == "STARTTLS":
                c.sendall(tag.encode() + b" OK Begin TLS negotiation now\r\n")
                return
            c.sendall(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n" + tag.encode() + b" OK done\r\n")
    elif mode == "pop3":
        c.sendall(b"+OK POP3 ready\r\n")
        for line in lines(f):
            if line.upper() == "STLS":
                c.sendall(b"+OK Begin TLS\r\n")
                return
            c.sendall(b"+OK\r\nSTLS\r\n.\r\n")
    elif mode == "ftp":
        c.sendall(b"220 FTP ready\r\n")
        for line in lines(f):
            if line.upper().startswith("AUTH"):
                c.sendall(b"234 AUTH accepted\r\n")
                return
            c.sendall(b"500 no\r\n")
    elif mode == "xmpp":
        until(c, b">")
        c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' id='1' from='example.com' version='1.0'>"
                  b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                  b"</stream:features>")
        until(c, b"starttls")
        c.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    elif mode == "ldap":
        hdr = readn(c, 2)
        readn(c, hdr[1])
        # ExtendedResponse, messageID 1, resultCode success, responseName StartTLS OID.
        oid = b"1.3.6.1.4.1.1466.20037"
        resp = b"\x0a\x01\x00\x04\x00\x04\x00" + b"\x8a" + bytes([len(oid)]) + oid
        op = b"\x78" + bytes([len(resp)]) + resp
        msg = b"\x02\x01\x01" + op
        c.sendall(b"\x30" + bytes([len(msg)]) + msg)
    elif mode == "connect":
        until(c, b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    elif mode == "socks5":
        hdr = readn(c, 2)
        readn(c, hdr[1])
        c.sendall(b"\x05\x00")
        req = readn(c, 4)
        if req[3] == 1:
            readn(c, 4 + 2)
        elif req[3] == 3:
            n = readn(c, 1)[0]
            readn(c, n + 2)
        else:
            readn(c, 16 + 2)
        c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
    elif mode == "socks4":
        readn(c, 8)
        while readn(c, 1) != b"\x00":
            pass
        c.sendall(b"\x00\x5a\x00\x00\x00\x00\x00\x00")
    elif mode == "postgres":
        readn(c, 8)
        c.sendall(b"S")
    elif mode == "mysql":
        caps = 0x0000ffff | 0x00080000  # includes CLIENT_SSL (0x800) and CLIENT_PROTOCOL_41
        body = (b"\x0a" + b"8.0.0-fake\x00" + b"\x01\x00\x00\x00" + b"abcdefgh" + b"\x00"
                + (caps & 0xffff).to_bytes(2, "little") + b"\x21" + b"\x02\x00"
                + (caps >> 16).to_bytes(2, "little") + b"\x15" + b"\x00" * 10
                + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
        c.sendall(len(body).to_bytes(3, "little") + b"\x00" + body)
        hdr = readn(c, 4)
        readn(c, int.from_bytes(hdr[:3], "little"))
    else:
        raise SystemExit("unknown mode " + mode)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
srv.settimeout(20)
conn, _ = srv.accept()
conn.settimeout(10)
try:
    preamble(conn)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    tls = ctx.wrap_socket(conn, server_side=True)
    if mode in ("connect", "socks5", "socks4"):
        until(tls, b"\r\n\r\n")
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    tls.close()
except (OSError, EOFError, ssl.SSLError) as e:
    print("responder", mode, e, file=sys.stderr)
