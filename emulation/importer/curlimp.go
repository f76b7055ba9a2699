package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// CurlImpersonateOrigin is the provenance of the curl-impersonate copy in
// profile-sources.
var CurlImpersonateOrigin = Origin{
	Project: "github.com/lexiforest/curl-impersonate",
	Commit:  "ff5d2b1c625eded5f3799c2d87a5251fa1659f5f",
	File:    "tests/signatures",
	Licence: "MIT",
}

// GREASE values the importer writes where curl-impersonate says GREASE.
// Each list gets its own value, as BoringSSL does; a key share uses its
// group list's value.
const (
	greaseCipher   = 0x0a0a
	greaseExtFirst = 0x1a1a
	greaseExtLast  = 0x2a2a
	greaseGroup    = 0x3a3a
	greaseVersion  = 0x4a4a
)

type ciSignature struct {
	Browser struct {
		Name    string `yaml:"name"`
		OS      string `yaml:"os"`
		Version string `yaml:"version"`
	} `yaml:"browser"`
	Signature *struct {
		Options struct {
			Permute bool `yaml:"tls_permute_extensions"`
		} `yaml:"options"`
		HTTP2 *struct {
			Frames []ciFrame `yaml:"frames"`
		} `yaml:"http2"`
		Hello *struct {
			Ciphers     []yaml.Node `yaml:"ciphersuites"`
			Comp        []int       `yaml:"comp_methods"`
			Extensions  []ciExt     `yaml:"extensions"`
			Handshake   string      `yaml:"handshake_version"`
			SessionIDLn *int        `yaml:"session_id_length"`
		} `yaml:"tls_client_hello"`
	} `yaml:"signature"`
}

type ciFrame struct {
	Type     string `yaml:"frame_type"`
	Settings []struct {
		Key   uint16 `yaml:"key"`
		Value uint32 `yaml:"value"`
	} `yaml:"settings"`
	StreamID  uint32   `yaml:"stream_id"`
	Increment uint32   `yaml:"window_size_increment"`
	Headers   []string `yaml:"headers"`
	Pseudo    []string `yaml:"pseudo_headers"`
	Priority  *struct {
		Exclusive bool   `yaml:"exclusive"`
		DependsOn uint32 `yaml:"dep_id"`
		Weight    uint16 `yaml:"weight"`
	} `yaml:"priority"`
}

type ciExt struct {
	Type      string      `yaml:"type"`
	Length    *int        `yaml:"length"`
	Data      string      `yaml:"data"` // !!binary decodes to a string
	Groups    []yaml.Node `yaml:"supported_groups"`
	Points    []int       `yaml:"ec_point_formats"`
	ALPN      []string    `yaml:"alpn_list"`
	ALPS      []string    `yaml:"alps_alpn_list"`
	SigAlgs   []uint16    `yaml:"sig_hash_algs"`
	Versions  []yaml.Node `yaml:"supported_versions"`
	PSKMode   *int        `yaml:"psk_ke_mode"`
	Algs      []uint16    `yaml:"algorithms"`
	Status    *int        `yaml:"status_request_type"`
	RecordLim *uint16     `yaml:"record_size_limit"`
	KeyShares []struct {
		Group  yaml.Node `yaml:"group"`
		Length int       `yaml:"length"`
	} `yaml:"key_shares"`
}

// FromCurlImpersonate converts a signature YAML file, or every *.yaml in a
// directory (README and other files are ignored), in name order.
func FromCurlImpersonate(path string, origin Origin) (*Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("importer: curl-impersonate: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".yaml") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("importer: curl-impersonate: listing %s: %w", path, err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("importer: curl-impersonate: no .yaml files in %s", path)
		}
	}
	res := &Result{}
	var cands []candidate
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			res.Problems = append(res.Problems, Problem{filepath.Base(f), err})
			continue
		}
		p, lists, err := curlRecord(filepath.Base(f), b, origin)
		if err != nil {
			res.Problems = append(res.Problems, Problem{filepath.Base(f), err})
			continue
		}
		cands = append(cands, candidate{p, lists, filepath.Base(f), ""})
	}
	res.Profiles, res.Lists, res.Problems = disambiguate(cands, res.Problems)
	return res, nil
}

// CurlImpersonateRecord converts one signature file's bytes; file is its
// name (the record key).
func CurlImpersonateRecord(file string, b []byte, origin Origin) (*emulation.Profile, error) {
	p, _, err := curlRecord(file, b, origin)
	return p, err
}

func curlRecord(file string, b []byte, origin Origin) (*emulation.Profile, SourceLists, error) {
	var want SourceLists
	var sig ciSignature
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&sig); err != nil {
		return nil, want, fmt.Errorf("decoding YAML: %w", err)
	}
	if sig.Signature == nil || sig.Signature.Hello == nil {
		return nil, want, fmt.Errorf("no signature.tls_client_hello")
	}
	h := sig.Signature.Hello
	spec := helloSpec{legacyVersion: 0x0303, seed: file}
	if h.Handshake != "" {
		v, err := tlsVersion(h.Handshake)
		if err != nil {
			return nil, want, fmt.Errorf("handshake_version: %w", err)
		}
		spec.legacyVersion = v
	}
	for i := range h.Ciphers {
		v, err := u16Value(&h.Ciphers[i], greaseCipher)
		if err != nil {
			return nil, want, fmt.Errorf("ciphersuites[%d]: %w", i, err)
		}
		spec.ciphers = append(spec.ciphers, v)
	}
	want.Ciphers = spec.ciphers
	for _, c := range h.Comp {
		spec.compression = append(spec.compression, byte(c))
	}
	padAt := -1
	greaseSeen := 0
	for i, e := range h.Extensions {
		x, err := ciExtension(e, &want, &greaseSeen, file)
		if err != nil {
			return nil, want, fmt.Errorf("extension %d (%s): %w", i, e.Type, err)
		}
		if e.Type == "padding" && e.Length == nil {
			padAt = len(spec.exts)
		}
		if x.typ == 51 && nssBrowser(sig.Browser.Name) {
			x.data = shareX25519Filler(x.data)
		}
		want.Extensions = append(want.Extensions, x.typ)
		spec.exts = append(spec.exts, x)
	}
	if padAt >= 0 && slices.Contains(want.Extensions, 0xfe0d) {
		return nil, want, fmt.Errorf("the source lists padding (no length) together with GREASE ECH: BoringSSL pads only when the hello is 256..511 bytes, and the GREASE ECH payload length changes per connection (utls v1.8.2's BoringGREASEECH, which the transport uses for Chromium), so the padding extension comes and goes and the extension list cannot be reproduced on every connection")
	}
	if padAt >= 0 {
		// BoringSSL's rule: pad a hello whose message is 256..511 bytes
		// to 512 (at least one byte of padding).
		raw, err := spec.assemble()
		if err != nil {
			return nil, want, fmt.Errorf("assembling the hello: %w", err)
		}
		n := len(raw) - 5
		if n <= 0xff || n >= 0x200 {
			return nil, want, fmt.Errorf("the source lists padding without a length, and the assembled hello (%d bytes, with SNI example.com and a synthesised GREASE ECH) is outside BoringSSL's padding range 256..511: utls v1.8.2 pads by that rule, so the padding extension would not be sent and the extension list could not be reproduced", n)
		}
		pad := 0x200 - n - 4
		if pad < 1 {
			pad = 1
		}
		spec.exts[padAt].data = make([]byte, pad)
	}
	hello, err := spec.assemble()
	if err != nil {
		return nil, want, fmt.Errorf("assembling the hello: %w", err)
	}
	ch, err := verify(hello, want)
	if err != nil {
		return nil, want, err
	}
	if sig.Signature.HTTP2 == nil {
		return nil, want, fmt.Errorf("no signature.http2")
	}
	h2 := &emulation.H2{Headers: map[emulation.Initiator][]emulation.Header{}}
	var sawSettings, sawHeaders bool
	var ua string
	for _, f := range sig.Signature.HTTP2.Frames {
		switch f.Type {
		case "SETTINGS":
			if sawSettings {
				continue // a later SETTINGS (Chrome sends an empty one after the server's)
			}
			sawSettings = true
			for _, s := range f.Settings {
				h2.Settings = append(h2.Settings, emulation.Setting{ID: s.Key, Value: s.Value})
			}
		case "WINDOW_UPDATE":
			if f.StreamID == 0 && !sawHeaders {
				h2.WindowUpdate = f.Increment
			}
		case "PRIORITY":
			if f.Priority == nil {
				return nil, want, fmt.Errorf("PRIORITY frame without priority")
			}
			h2.PriorityFrames = append(h2.PriorityFrames, emulation.Priority{StreamID: f.StreamID, Exclusive: f.Priority.Exclusive, DependsOn: f.Priority.DependsOn, Weight: f.Priority.Weight})
		case "HEADERS":
			if sawHeaders {
				continue
			}
			sawHeaders = true
			h2.PseudoOrder = f.Pseudo
			var hs []emulation.Header
			for _, line := range f.Headers {
				name, value, ok := strings.Cut(line, ": ")
				if !ok {
					name, value, ok = strings.Cut(line, ":")
				}
				if !ok || name == "" {
					return nil, want, fmt.Errorf("HEADERS: header line %q has no name", line)
				}
				name = strings.ToLower(name)
				if strings.EqualFold(name, "user-agent") {
					ua = value
				}
				if emulation.IsCallerOnly(name) {
					value = ""
				}
				hs = append(hs, emulation.Header{Name: name, Value: value})
			}
			h2.Headers[emulation.Navigate] = hs
			if f.Priority != nil {
				h2.HeadersPriority = map[emulation.Initiator]emulation.Priority{emulation.Navigate: {Exclusive: f.Priority.Exclusive, DependsOn: f.Priority.DependsOn, Weight: f.Priority.Weight}}
			}
		default:
			return nil, want, fmt.Errorf("unknown HTTP/2 frame type %q", f.Type)
		}
	}
	if !sawSettings {
		return nil, want, fmt.Errorf("no HTTP/2 SETTINGS frame recorded (older signature with the HEADERS frame only): the connection preface is unknown")
	}
	if !sawHeaders {
		return nil, want, fmt.Errorf("no HTTP/2 HEADERS frame recorded")
	}
	if ua == "" {
		return nil, want, fmt.Errorf("the HEADERS frame has no user-agent")
	}
	p := &emulation.Profile{Format: emulation.FormatVersion, UserAgent: ua, H2: h2, ShuffleExtensions: sig.Signature.Options.Permute}
	p.TLS.ClientHello = hello
	id := emulation.Identify(ua, h2.Headers[emulation.Navigate])
	if !id.Known() {
		return nil, want, fmt.Errorf("user agent %q names no known browser", ua)
	}
	p.Browser, p.Version, p.Platform = id.Browser, id.Version, id.Platform
	if b := strings.ToLower(sig.Browser.Name); b == "tor" {
		p.Browser = "tor"
	}
	if sig.Browser.Version != "" {
		p.Version = sig.Browser.Version
	}
	p.Name = strings.ToLower(fmt.Sprintf("%s-%d-%s", p.Browser, majorOf(p.Version), p.Platform))
	fp := ch.Fingerprints()
	p.Expected = emulation.Expected{JA4: fp.JA4, JA4R: fp.JA4R, JA3N: fp.JA3N, PeetPrint: fp.PeetPrint}
	a := fingerprint.AkamaiString(h2.Settings, h2.WindowUpdate, h2.PriorityFrames, h2.PseudoOrder)
	p.Expected.Akamai, p.Expected.AkamaiHash = a.Text, a.Hash
	p.Source = emulation.Source{
		Kind: emulation.SourceImported,
		Note: fmt.Sprintf("imported from %s %s/%s", origin.Project, origin.File, file),
		Origin: &emulation.Origin{
			Project: origin.Project, Commit: origin.Commit, File: origin.File + "/" + file,
			Record: file, Licence: origin.Licence,
		},
	}
	if err := p.Validate(); err != nil {
		return nil, want, fmt.Errorf("converted profile is invalid: %w", err)
	}
	return p, want, nil
}

func majorOf(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

func tlsVersion(s string) (uint16, error) {
	switch s {
	case "TLS_VERSION_1_0":
		return 0x0301, nil
	case "TLS_VERSION_1_1":
		return 0x0302, nil
	case "TLS_VERSION_1_2":
		return 0x0303, nil
	case "TLS_VERSION_1_3":
		return 0x0304, nil
	}
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("unknown TLS version %q", s)
	}
	return uint16(n), nil
}

// u16Value reads a number, a TLS_VERSION_* name or GREASE (written as g).
func u16Value(n *yaml.Node, g uint16) (uint16, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a scalar at line %d", n.Line)
	}
	if n.Value == "GREASE" {
		return g, nil
	}
	return tlsVersion(n.Value)
}

func ciExtension(e ciExt, want *SourceLists, greaseSeen *int, seed string) (ext, error) {
	switch e.Type {
	case "GREASE":
		t := uint16(greaseExtFirst)
		if *greaseSeen > 0 {
			t = greaseExtLast
		}
		*greaseSeen++
		return ext{t, []byte(e.Data)}, nil
	case "server_name":
		return ext{0, sniData("example.com")}, nil
	case "extended_master_secret":
		return ext{23, nil}, nil
	case "renegotiation_info":
		return ext{65281, []byte{0}}, nil
	case "session_ticket":
		return ext{35, nil}, nil
	case "signed_certificate_timestamp":
		return ext{18, nil}, nil
	case "status_request":
		t := 1
		if e.Status != nil {
			t = *e.Status
		}
		return ext{5, []byte{byte(t), 0, 0, 0, 0}}, nil
	case "supported_groups":
		var l []uint16
		for i := range e.Groups {
			v, err := u16Value(&e.Groups[i], greaseGroup)
			if err != nil {
				return ext{}, err
			}
			l = append(l, v)
		}
		want.Groups = l
		return ext{10, u16list(l)}, nil
	case "ec_point_formats":
		var l []byte
		for _, v := range e.Points {
			l = append(l, byte(v))
		}
		want.PointFormat = l
		return ext{11, append([]byte{byte(len(l))}, l...)}, nil
	case "application_layer_protocol_negotiation":
		if len(e.ALPN) == 0 {
			return ext{}, fmt.Errorf("empty alpn_list")
		}
		var ps [][]byte
		for _, a := range e.ALPN {
			ps = append(ps, []byte(a))
		}
		want.ALPN = e.ALPN
		return ext{16, protoList(ps)}, nil
	case "application_settings", "application_settings_new":
		var ps [][]byte
		for _, a := range e.ALPS {
			ps = append(ps, []byte(a))
		}
		t := uint16(17513)
		if e.Type == "application_settings_new" {
			t = 17613
		}
		return ext{t, protoList(ps)}, nil
	case "signature_algorithms":
		want.SigAlgs = e.SigAlgs
		return ext{13, u16list(e.SigAlgs)}, nil
	case "delegated_credentials":
		return ext{34, u16list(e.SigAlgs)}, nil
	case "supported_versions":
		var l []uint16
		for i := range e.Versions {
			v, err := u16Value(&e.Versions[i], greaseVersion)
			if err != nil {
				return ext{}, err
			}
			l = append(l, v)
		}
		want.Versions = l
		return ext{43, u8u16list(l)}, nil
	case "psk_key_exchange_modes":
		if e.PSKMode == nil {
			return ext{}, fmt.Errorf("no psk_ke_mode")
		}
		want.PSKModes = []byte{byte(*e.PSKMode)}
		return ext{45, []byte{1, byte(*e.PSKMode)}}, nil
	case "compress_certificate":
		want.CertComp = e.Algs
		return ext{27, u8u16list(e.Algs)}, nil
	case "record_size_limit":
		if e.RecordLim == nil {
			return ext{}, fmt.Errorf("no record_size_limit value")
		}
		return ext{28, binary.BigEndian.AppendUint16(nil, *e.RecordLim)}, nil
	case "keyshare":
		var body []byte
		for i, ks := range e.KeyShares {
			g, err := u16Value(&ks.Group, greaseGroup)
			if err != nil {
				return ext{}, fmt.Errorf("key_shares[%d]: %w", i, err)
			}
			if ks.Length < 1 || ks.Length > 0x2000 {
				return ext{}, fmt.Errorf("key_shares[%d]: length %d", i, ks.Length)
			}
			body = binary.BigEndian.AppendUint16(body, g)
			body = binary.BigEndian.AppendUint16(body, uint16(ks.Length))
			body = append(body, pseudoRandom(fmt.Sprintf("%s/ks/%d", seed, i), ks.Length)...)
		}
		return ext{51, append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)}, nil
	case "encrypted_client_hello":
		// The signatures record no ECH contents (length 0: the GREASE ECH
		// was not decoded); write a BoringSSL-shaped GREASE ECH (outer,
		// HKDF-SHA256/AES-128-GCM, 32-byte enc, 144-byte payload). The
		// transport replaces it per connection for Chromium anyway.
		d := []byte{0, 0, 1, 0, 1, pseudoRandom(seed+"/ech", 1)[0], 0, 32}
		d = append(d, pseudoRandom(seed+"/enc", 32)...)
		d = append(d, 0, 144)
		d = append(d, pseudoRandom(seed+"/payload", 144)...)
		return ext{0xfe0d, d}, nil
	case "padding":
		n := 0
		if e.Length != nil {
			n = *e.Length
		}
		return ext{21, make([]byte, n)}, nil
	case "pre_shared_key":
		return ext{}, fmt.Errorf("pre_shared_key: the signature is of a resumed connection, profiles need a first-visit hello")
	}
	return ext{}, fmt.Errorf("unknown extension type %q", e.Type)
}

// nssBrowser reports a browser on Firefox's TLS stack (NSS): Firefox and Tor
// Browser.
func nssBrowser(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "firefox") || n == "tor"
}

// shareX25519Filler makes a key_share extension's X25519MLKEM768 share end
// with its X25519 share, as Firefox (NSS) sends them: one X25519 key for
// both (real captures: ours and rama's). curl-impersonate records no key
// share contents, so the shares are filler; without this the filler would
// tell the emulation to keep two keys (emulation.KeyShareX25519Reuse).
func shareX25519Filler(d []byte) []byte {
	if len(d) < 2 {
		return d
	}
	out := bytes.Clone(d)
	var x, hybrid []byte
	for rest := out[2:]; len(rest) >= 4; {
		g := binary.BigEndian.Uint16(rest)
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if len(rest) < 4+n {
			break
		}
		switch share := rest[4 : 4+n]; {
		case g == 0x001d && n == 32 && x == nil:
			x = share
		case g == 0x11ec && n > 32 && hybrid == nil:
			hybrid = share
		}
		rest = rest[4+n:]
	}
	if x != nil && hybrid != nil {
		copy(hybrid[len(hybrid)-32:], x)
	}
	return out
}

func pseudoRandom(seed string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", seed, i)))
		out = append(out, s[:]...)
	}
	return out[:n]
}
