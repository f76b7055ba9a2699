package storetest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// family is one client build with fixed fingerprints, as many captures share them.
type family struct {
	ua       string
	h2       bool
	permutes bool
	helloLen int // with a post-quantum key share (X25519MLKEM768), as sent today
	classic  int // without it
	ja3      string
	ja4      string
	ja4r     string
	akamai   string
	peet     string
	headers  []model.HeaderPair
}

func families() []family {
	chromeUA := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	firefoxUA := "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
	safariUA := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15"
	return []family{
		{
			ua: chromeUA, h2: true, permutes: true, helloLen: 1780, classic: 517,
			ja3:    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17613-65037,4588-29-23-24,0",
			ja4:    "t13d1516h2_8daaf6152771_d8a2da3f94cd",
			ja4r:   "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
			akamai: "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p",
			peet:   "GREASE-772-771|2-1.1|GREASE-4588-29-23-24|1027-2052-1025-1283-2053-1281-2054-1537|1|2|GREASE-4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53|0-10-11-13-16-17613-18-23-27-35-43-45-5-51-65037-65281-GREASE-GREASE",
			headers: []model.HeaderPair{
				{Name: ":method", Value: "GET"}, {Name: ":authority", Value: "fp.example.net"}, {Name: ":scheme", Value: "https"}, {Name: ":path", Value: "/"},
				{Name: "sec-ch-ua", Value: `"Chromium";v="156", "Not)A;Brand";v="8"`}, {Name: "sec-ch-ua-mobile", Value: "?0"}, {Name: "sec-ch-ua-platform", Value: `"Linux"`},
				{Name: "upgrade-insecure-requests", Value: "1"}, {Name: "user-agent", Value: chromeUA},
				{Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
				{Name: "sec-fetch-site", Value: "none"}, {Name: "sec-fetch-mode", Value: "navigate"}, {Name: "sec-fetch-user", Value: "?1"}, {Name: "sec-fetch-dest", Value: "document"},
				{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"}, {Name: "accept-language", Value: "en-US,en;q=0.9"}, {Name: "priority", Value: "u=0, i"},
			},
		},
		{
			ua: firefoxUA, h2: true, helloLen: 1850, classic: 640,
			ja3:    "771,4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-34-18-51-43-13-45-28-27-65037,4588-29-23-24-25-256-257,0",
			ja4:    "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
			ja4r:   "t13d1717h2_002f,0035,009c,009d,1301,1302,1303,c009,c00a,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,001c,0022,0023,002b,002d,0033,fe0d,ff01_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201",
			akamai: "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s",
			peet:   "772-771|2-1.1|4588-29-23-24-25-256-257|1027-1283-1539-2052-2053-2054-1025-1281-1537-515-513|1|1-2-3|4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53|0-10-11-13-16-18-23-27-28-34-35-43-45-5-51-65037-65281",
			headers: []model.HeaderPair{
				{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/"}, {Name: ":authority", Value: "fp.example.net"}, {Name: ":scheme", Value: "https"},
				{Name: "user-agent", Value: firefoxUA}, {Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
				{Name: "accept-language", Value: "en-US,en;q=0.5"}, {Name: "accept-encoding", Value: "gzip, deflate, br, zstd"},
				{Name: "upgrade-insecure-requests", Value: "1"}, {Name: "sec-fetch-dest", Value: "document"}, {Name: "sec-fetch-mode", Value: "navigate"},
				{Name: "sec-fetch-site", Value: "none"}, {Name: "sec-fetch-user", Value: "?1"}, {Name: "priority", Value: "u=0, i"}, {Name: "te", Value: "trailers"},
			},
		},
		{
			ua: safariUA, h2: true, helloLen: 620, classic: 620,
			ja3:    "771,4865-4866-4867-49196-49195-52393-49200-49199-52392-49162-49161-49172-49171-157-156-53-47-49160-49170-10,0-23-65281-10-11-16-5-13-18-51-45-43-27,29-23-24-25,0",
			ja4:    "t13d2014h2_a09f3c656075_14788d8d241b",
			ja4r:   "t13d2014h2_000a,002f,0035,009c,009d,1301,1302,1303,c008,c009,c00a,c012,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,002b,002d,0033,ff01_0403,0804,0401,0503,0203,0805,0805,0501,0806,0601,0201",
			akamai: "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p",
			peet:   "772-771-770-769|2-1.1|29-23-24-25|1027-2052-1025-1283-515-2053-2053-1281-2054-1537-513|1|1|4865-4866-4867-49196-49195-52393-49200-49199-52392-49162-49161-49172-49171-157-156-53-47-49160-49170-10|0-10-11-13-16-18-23-27-43-45-5-51-65281",
			headers: []model.HeaderPair{
				{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"}, {Name: ":authority", Value: "fp.example.net"}, {Name: ":path", Value: "/"},
				{Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, {Name: "sec-fetch-site", Value: "none"},
				{Name: "sec-fetch-mode", Value: "navigate"}, {Name: "user-agent", Value: safariUA}, {Name: "accept-language", Value: "en-US,en;q=0.9"},
				{Name: "sec-fetch-dest", Value: "document"}, {Name: "accept-encoding", Value: "gzip, deflate, br"}, {Name: "priority", Value: "u=0, i"},
			},
		},
		{
			ua: "curl/8.14.1", h2: false, helloLen: 517, classic: 517,
			ja3:  "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-13172-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
			ja4:  "t13d3112h1_e8f1e7e78f70_375ba7cb2af9",
			ja4r: "t13d3112h1_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,000b,000d,0015,0016,0017,002b,002d,0031,0033,3374_0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602",
			peet: "772-771|1.1|29-23-30-25-24-256-257-258-259-260|1027-1283-1539-2055-2056-2057-2058-2059-2052-2053-2054-1025-1281-1537-771-769-770-1026-1282-1538||||4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255|0-10-11-13-13172-16-21-22-23-43-45-49-51",
			headers: []model.HeaderPair{
				{Name: "Host", Value: "fp.example.net"}, {Name: "User-Agent", Value: "curl/8.14.1"}, {Name: "Accept", Value: "*/*"},
			},
		},
	}
}

// Size selects the ClientHello sizes a Generator uses.
type Size int

const (
	// Classic captures carry ClientHellos without a post-quantum key share
	// (517-640 bytes): about 3.3 KB per capture on average, of which ~1.3 KB are
	// the fingerprint texts and ~1 KB the ordered headers.
	Classic Size = iota
	// PostQuantum captures carry the ~1.8 KB ClientHellos current Chromium and
	// Firefox send (X25519MLKEM768 key share): about 3.9 KB per capture.
	PostQuantum
)

// Generator produces realistic captures (a ClientHello of browser size, 3-17
// ordered headers, TLS and HTTP/2 summaries, every fingerprint in full) from a few
// client families (Chromium, Firefox, Safari, curl), grouped into visits of up to 4
// captures. It is not safe for concurrent use.
type Generator struct {
	size     Size
	rng      *rand.Rand
	fams     []family
	now      time.Time
	step     time.Duration
	n        int
	visit    string
	visitFam int
	left     int
}

// NewGenerator returns a generator of Classic-size captures whose content is
// determined by seed. Captures are stamped from start onwards, step apart. IDs are
// model.NewCaptureID values (random, so unique across generators).
func NewGenerator(seed uint64, start time.Time, step time.Duration) *Generator {
	return NewSizedGenerator(seed, start, step, Classic)
}

// NewSizedGenerator is NewGenerator with a choice of ClientHello sizes.
func NewSizedGenerator(seed uint64, start time.Time, step time.Duration, size Size) *Generator {
	return &Generator{size: size, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), fams: families(), now: start, step: step}
}

// Next returns a new capture.
func (g *Generator) Next() model.Capture {
	g.n++
	created := g.now
	g.now = g.now.Add(g.step)
	if g.left == 0 {
		g.visit = fmt.Sprintf("v%016x", g.rng.Uint64())
		g.visitFam = g.rng.IntN(len(g.fams))
		g.left = 1 + g.rng.IntN(4)
	}
	g.left--
	f := g.fams[g.visitFam]
	initiators := []string{model.InitiatorNavigate, model.InitiatorFetch, model.InitiatorXHR, model.InitiatorForm}
	init := initiators[g.rng.IntN(len(initiators))]
	if !f.h2 {
		init = model.InitiatorEcho
	}
	path := "/probe/" + init + "?n=" + strconv.Itoa(g.n)
	n := f.classic
	if g.size == PostQuantum {
		n = f.helloLen
	}
	hello := make([]byte, n)
	hello[0], hello[1], hello[2] = 0x16, 0x03, 0x01
	binary.BigEndian.PutUint16(hello[3:5], uint16(n-5))
	hello[5] = 0x01
	for i := 6; i+8 <= len(hello); i += 8 {
		binary.LittleEndian.PutUint64(hello[i:], g.rng.Uint64())
	}
	headers := make([]model.HeaderPair, len(f.headers))
	copy(headers, f.headers)
	for i := range headers {
		if headers[i].Name == ":path" {
			headers[i].Value = path
		}
	}
	names := ""
	for i, h := range headers {
		if i > 0 {
			names += ","
		}
		names += h.Name
	}
	hv, alpn, h2 := "1.1", "http/1.1", []byte(nil)
	if f.h2 {
		hv, alpn = "2", "h2"
		h2 = []byte(`{"settings":[[1,65536],[2,0],[4,6291456],[6,262144]],"window_update":15663105,"priority":[],"headers_priority":{"exclusive":true,"dependency":0,"weight":256},"pseudo_order":[":method",":authority",":scheme",":path"]}`)
	}
	summary := fmt.Sprintf(`{"record_version":769,"legacy_version":771,"random":"%016x%016x","session_id_len":32,"sni":"fp.example.net","alpn":["h2","http/1.1"],"supported_versions":[772,771],"groups":[4588,29,23,24],"sig_algs":[1027,2052,1025,1283,2053,1281,2054,1537],"ja3":%q}`,
		g.rng.Uint64(), g.rng.Uint64(), f.ja3)
	ja3 := f.ja3
	if f.permutes {
		// Chromium permutes its extensions per connection, so JA3 (unlike JA3N)
		// differs between its captures.
		ja3 = f.ja3 + "-" + strconv.Itoa(g.rng.IntN(1000))
	}
	akamaiHash := ""
	if f.akamai != "" {
		akamaiHash = fnvHex(f.akamai, 32)
	}
	return model.Capture{
		ID:              model.NewCaptureID(created),
		CreatedAt:       created,
		VisitKey:        g.visit,
		Initiator:       init,
		ClientIP:        fmt.Sprintf("198.51.%d.0", g.rng.IntN(256)),
		UserAgent:       f.ua,
		Host:            "fp.example.net",
		Method:          "GET",
		Path:            path,
		HTTPVersion:     hv,
		TLSVersion:      "1.3",
		SNI:             "fp.example.net",
		ALPN:            alpn,
		ClientHello:     hello,
		TLSSummary:      []byte(summary),
		Headers:         headers,
		H2:              h2,
		JA3:             ja3,
		JA3Hash:         fnvHex(ja3, 32),
		JA3N:            f.ja3,
		JA3NHash:        fnvHex("n"+f.ja3, 32),
		JA4:             f.ja4,
		JA4R:            f.ja4r,
		JA4O:            f.ja4 + "_o",
		JA4RO:           f.ja4r + "_o",
		PeetPrint:       f.peet,
		PeetPrintHash:   fnvHex(f.peet, 32),
		Akamai:          f.akamai,
		AkamaiHash:      akamaiHash,
		HeaderOrder:     names,
		HeaderOrderHash: fnvHex(names, 12),
	}
}

// fnvHex derives a stable pseudo-hash of n hex digits from s (a stand-in for the
// md5/sha256 values fpserver computes; the store only compares them).
func fnvHex(s string, n int) string {
	out := make([]byte, 0, n+16)
	for i := uint64(0); len(out) < n; i++ {
		h := fnv.New64a()
		h.Write([]byte{byte(i)})
		h.Write([]byte(s))
		out = fmt.Appendf(out, "%016x", h.Sum64())
	}
	return string(out[:n])
}

// Batch returns n new captures.
func (g *Generator) Batch(n int) []model.Capture {
	out := make([]model.Capture, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// KeepAlive returns n requests of first's connection as fpserver captures them
// on a keep-alive connection: each repeats first's ClientHello, TLS summary, TLS
// and HTTP/2 fingerprints and headers, with its own ID, time (step apart after
// first's), path and HTTP/2 stream, and all name one ConnID (first's ID, when
// first has none).
func KeepAlive(first model.Capture, n int, step time.Duration) []model.Capture {
	out := make([]model.Capture, n)
	if first.ConnID == "" {
		first.ConnID = "conn-" + first.ID
	}
	for i := range out {
		c := first
		c.StreamID = uint32(2*i + 1)
		c.CreatedAt = first.CreatedAt.Add(time.Duration(i) * step)
		c.ID = model.NewCaptureID(c.CreatedAt)
		c.Path = fmt.Sprintf("/api/clean?n=%d", i)
		out[i] = c
	}
	return out
}
