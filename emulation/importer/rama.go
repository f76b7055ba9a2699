package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Origin describes where an imported record came from.
type Origin struct {
	Project string // e.g. github.com/plabayo/rama
	Commit  string
	File    string // path inside the project
	Licence string
}

// RamaOrigin is the provenance of the rama-ua copy in profile-sources.
var RamaOrigin = Origin{
	Project: "github.com/plabayo/rama",
	Commit:  "e4e7ee977915af54cacc5c796082ff4931384e3d",
	File:    "rama-ua/src/profile/embed_profiles.json",
	Licence: "MIT OR Apache-2.0",
}

// Problem is one record that could not be converted.
type Problem struct {
	Record string // the record's key: index and user agent, or file name
	Err    error
}

func (p Problem) String() string { return fmt.Sprintf("%s: %v", p.Record, p.Err) }

// Result is a conversion run: the profiles made and the records refused.
type Result struct {
	Profiles []*emulation.Profile
	Problems []Problem
	// Lists holds, per profile name, the ClientHello lists as the source
	// states them (GREASE placeholders replaced by the values written), so
	// checks can compute expected fingerprints without the assembled hello.
	Lists map[string]SourceLists
}

type ramaRecord struct {
	UA         string         `json:"uastr"`
	Hello      *ramaHello     `json:"tls_client_hello"`
	H1Nav      [][2]string    `json:"h1_headers_navigate"`
	H1Fetch    [][2]string    `json:"h1_headers_fetch"`
	H1XHR      [][2]string    `json:"h1_headers_xhr"`
	H1Form     [][2]string    `json:"h1_headers_form"`
	H1WS       [][2]string    `json:"h1_headers_ws"`
	H2Nav      [][2]string    `json:"h2_headers_navigate"`
	H2Fetch    [][2]string    `json:"h2_headers_fetch"`
	H2XHR      [][2]string    `json:"h2_headers_xhr"`
	H2Form     [][2]string    `json:"h2_headers_form"`
	H2WS       [][2]string    `json:"h2_headers_ws"`
	H2Settings *ramaH2        `json:"h2_settings"`
	UpdatedAt  string         `json:"updated_at"`
	SourceInfo map[string]any `json:"source_info"`
}

type ramaHello struct {
	ProtocolVersion uint16            `json:"protocol_version"`
	CipherSuites    []uint16          `json:"cipher_suites"`
	Compression     []byte            `json:"compression_algorithms"`
	Extensions      []json.RawMessage `json:"extensions"`
}

type ramaH2 struct {
	EarlyFrames []map[string]json.RawMessage `json:"early_frames"`
	Pseudo      []string                     `json:"http_pseudo_headers"`
}

// FromRama converts rama-ua's embed_profiles.json (one JSON array).
func FromRama(b []byte, origin Origin) (*Result, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, fmt.Errorf("importer: rama: decoding the profile array: %w", err)
	}
	res := &Result{}
	var cands []candidate
	for i, raw := range raws {
		var r ramaRecord
		key := fmt.Sprintf("[%d]", i)
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&r); err != nil {
			res.Problems = append(res.Problems, Problem{key, fmt.Errorf("decoding: %w", err)})
			continue
		}
		if r.UA != "" {
			key = fmt.Sprintf("[%d] %s", i, r.UA)
		}
		p, lists, err := convertRama(&r, i, origin)
		if err != nil {
			res.Problems = append(res.Problems, Problem{key, err})
			continue
		}
		dev, _ := r.SourceInfo["device_name"].(string)
		cands = append(cands, candidate{p, lists, key, dev})
	}
	res.Profiles, res.Lists, res.Problems = disambiguate(cands, res.Problems)
	return res, nil
}

// candidate is a converted record awaiting its final name.
type candidate struct {
	p      *emulation.Profile
	lists  SourceLists
	key    string // the record's key, for problems
	device string // a device name that tells same-version records apart
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// disambiguate renames profiles whose base name repeats within one run to
// browser-fullversion-platform; a name still repeated is a problem for
// every record after the first.
func disambiguate(cs []candidate, probs []Problem) ([]*emulation.Profile, map[string]SourceLists, []Problem) {
	rename := func(f func(c candidate) string) {
		count := map[string]int{}
		for _, c := range cs {
			count[c.p.Name]++
		}
		for _, c := range cs {
			if count[c.p.Name] > 1 {
				if n := f(c); n != c.p.Name {
					c.p.Name = n
				}
			}
		}
	}
	rename(func(c candidate) string {
		return strings.ToLower(fmt.Sprintf("%s-%s-%s", c.p.Browser, c.p.Version, c.p.Platform))
	})
	rename(func(c candidate) string {
		d := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(c.device), "-"), "-")
		if d == "" {
			return c.p.Name
		}
		n := c.p.Name + "-" + d
		if len(n) > 64 {
			n = n[:64]
		}
		return n
	})
	seen := map[string]string{}
	lists := map[string]SourceLists{}
	var out []*emulation.Profile
	for _, c := range cs {
		if first, dup := seen[c.p.Name]; dup {
			probs = append(probs, Problem{c.key, fmt.Errorf("duplicate profile name %s (also %s)", c.p.Name, first)})
			continue
		}
		seen[c.p.Name] = c.key
		lists[c.p.Name] = c.lists
		out = append(out, c.p)
	}
	return out, lists, probs
}

func convertRama(r *ramaRecord, idx int, origin Origin) (*emulation.Profile, SourceLists, error) {
	var want SourceLists
	var dropped []string
	if r.UA == "" {
		return nil, want, fmt.Errorf("no uastr")
	}
	if r.Hello == nil {
		return nil, want, fmt.Errorf("no tls_client_hello")
	}
	spec := helloSpec{legacyVersion: r.Hello.ProtocolVersion, ciphers: r.Hello.CipherSuites, compression: r.Hello.Compression, seed: r.UA}
	if spec.legacyVersion == 0 {
		spec.legacyVersion = 0x0303
	}
	want.Ciphers = r.Hello.CipherSuites
	for j, raw := range r.Hello.Extensions {
		e, err := ramaExtension(raw, &want)
		if err != nil {
			return nil, want, fmt.Errorf("extension %d: %w", j, err)
		}
		want.Extensions = append(want.Extensions, e.typ)
		spec.exts = append(spec.exts, e)
	}
	hello, err := spec.assemble()
	if err != nil {
		return nil, want, fmt.Errorf("assembling the hello: %w", err)
	}
	ch, err := verify(hello, want)
	if err != nil {
		return nil, want, err
	}
	p := &emulation.Profile{Format: emulation.FormatVersion, UserAgent: r.UA}
	p.TLS.ClientHello = hello
	id := emulation.Identify(r.UA, headers(r.H2Nav, r.H1Nav))
	if !id.Known() {
		return nil, want, fmt.Errorf("user agent names no known browser")
	}
	p.Browser, p.Version, p.Platform = id.Browser, id.Version, id.Platform
	p.Name = id.ProfileName()
	p.ShuffleExtensions = id.Family() == "chromium" && id.Major() >= 110
	if len(r.H1Nav) > 0 {
		p.H1 = &emulation.H1{Headers: map[emulation.Initiator][]emulation.Header{}}
		for in, l := range map[emulation.Initiator][][2]string{emulation.Navigate: r.H1Nav, emulation.Fetch: r.H1Fetch, emulation.XHR: r.H1XHR, emulation.Form: r.H1Form, emulation.WebSocket: r.H1WS} {
			if len(l) > 0 {
				p.H1.Headers[in] = headers(l)
			}
		}
	}
	if len(r.H2Nav) > 0 && !slices.Contains(want.ALPN, "h2") {
		return nil, want, fmt.Errorf("the record has HTTP/2 header lists but its ClientHello offers ALPN %q without h2 (the hello of another connection, e.g. the WebSocket's): no consistent profile", want.ALPN)
	}
	if len(r.H2Nav) > 0 {
		if r.H2Settings == nil {
			return nil, want, fmt.Errorf("h2 headers without h2_settings")
		}
		h2, d, err := ramaH2Conv(r.H2Settings)
		dropped = d
		if err != nil {
			return nil, want, err
		}
		for in, l := range map[emulation.Initiator][][2]string{emulation.Navigate: r.H2Nav, emulation.Fetch: r.H2Fetch, emulation.XHR: r.H2XHR, emulation.Form: r.H2Form, emulation.WebSocket: r.H2WS} {
			if len(l) > 0 {
				h2.Headers[in] = headers(l)
			}
		}
		p.H2 = h2
	}
	fp := ch.Fingerprints()
	p.Expected = emulation.Expected{JA4: fp.JA4, JA4R: fp.JA4R, JA3N: fp.JA3N, PeetPrint: fp.PeetPrint}
	if p.H2 != nil {
		a := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		p.Expected.Akamai, p.Expected.AkamaiHash = a.Text, a.Hash
	}
	built, _ := time.Parse("2006-01-02 15:04:05", r.UpdatedAt)
	p.Source = emulation.Source{
		BuiltAt: built.UTC(),
		Kind:    emulation.SourceImported,
		Note:    fmt.Sprintf("imported from %s %s record %d", origin.Project, origin.File, idx) + droppedNote(dropped),
		Origin: &emulation.Origin{
			Project: origin.Project, Commit: origin.Commit, File: origin.File,
			Record: fmt.Sprintf("%d", idx), Licence: origin.Licence,
		},
	}
	if err := p.Validate(); err != nil {
		return nil, want, fmt.Errorf("converted profile is invalid: %w", err)
	}
	return p, want, nil
}

// requestedHint reports a client hint a browser sends only to a site that
// asked for it with Accept-CH (rama's server does; see
// emulation.IsRequestedHint). A profile describes a first contact, so they
// are left out, as emulation.Build does.
// headers converts pairs, blanking caller-only values (the profile keeps
// their position, as emulation.Build does) and dropping requested hints.
// ramaMarker is the header rama's fingerprinting page adds to its own fetch
// and XHR probes to recognise them; no browser sends it on its own.
const ramaMarker = "x-rama-custom-header-marker"

func headers(ls ...[][2]string) []emulation.Header {
	for _, l := range ls {
		if len(l) == 0 {
			continue
		}
		out := make([]emulation.Header, 0, len(l))
		for _, h := range l {
			if emulation.IsRequestedHint(h[0]) || strings.EqualFold(h[0], ramaMarker) {
				continue
			}
			v := h[1]
			if emulation.IsCallerOnly(h[0]) {
				v = ""
			}
			out = append(out, emulation.Header{Name: h[0], Value: v})
		}
		return out
	}
	return nil
}

var ramaSettingIDs = map[string]uint16{
	"header_table_size": 1, "enable_push": 2, "max_concurrent_streams": 3,
	"initial_window_size": 4, "max_frame_size": 5, "max_header_list_size": 6,
	"enable_connect_protocol": 8, "no_rfc7540_priorities": 9,
}

func ramaH2Conv(s *ramaH2) (h2out *emulation.H2, dropped []string, err error) {
	h2 := &emulation.H2{PseudoOrder: s.Pseudo, Headers: map[emulation.Initiator][]emulation.Header{}}
	sawSettings := false
	for i, f := range s.EarlyFrames {
		if len(f) != 1 {
			return nil, nil, fmt.Errorf("h2 early frame %d: want one kind, got %d", i, len(f))
		}
		for kind, body := range f {
			switch kind {
			case "Settings":
				var st struct {
					Config map[string]json.RawMessage `json:"config"`
				}
				if err := json.Unmarshal(body, &st); err != nil {
					return nil, nil, fmt.Errorf("h2 SETTINGS: %w", err)
				}
				var order []uint16
				if o, ok := st.Config["setting_order"]; ok {
					if err := json.Unmarshal(o, &order); err != nil {
						return nil, nil, fmt.Errorf("h2 SETTINGS setting_order: %w", err)
					}
				}
				values := map[uint16]uint32{}
				for k, v := range st.Config {
					if k == "setting_order" || string(v) == "null" {
						continue
					}
					id, ok := ramaSettingIDs[k]
					if !ok {
						return nil, nil, fmt.Errorf("h2 SETTINGS: unknown setting %q", k)
					}
					var n uint32
					if err := json.Unmarshal(v, &n); err != nil {
						var bv bool
						if err2 := json.Unmarshal(v, &bv); err2 != nil {
							return nil, nil, fmt.Errorf("h2 SETTINGS %s: %w", k, err)
						}
						if bv {
							n = 1
						}
					}
					values[id] = n
				}
				for _, id := range order {
					v, ok := values[id]
					if !ok {
						return nil, nil, fmt.Errorf("h2 SETTINGS: setting_order names %d without a value", id)
					}
					h2.Settings = append(h2.Settings, emulation.Setting{ID: id, Value: v})
					delete(values, id)
				}
				if len(values) > 0 {
					return nil, nil, fmt.Errorf("h2 SETTINGS: values %v missing from setting_order", values)
				}
				sawSettings = true
			case "WindowUpdate":
				var wu struct {
					Inc    uint32 `json:"size_increment"`
					Stream uint32 `json:"stream_id"`
				}
				if err := json.Unmarshal(body, &wu); err != nil {
					return nil, nil, fmt.Errorf("h2 WINDOW_UPDATE: %w", err)
				}
				switch {
				case wu.Stream == 0:
					h2.WindowUpdate = wu.Inc
				case wu.Stream%2 == 1 && h2.StreamWindowUpdate == 0 && wu.Inc > 0:
					// Firefox's WINDOW_UPDATE right after its first
					// request's HEADERS: the stream is its first stream
					// (3), the increment the one it sends on every stream.
					h2.FirstStreamID, h2.StreamWindowUpdate = wu.Stream, wu.Inc
				default:
					dropped = append(dropped, fmt.Sprintf("WINDOW_UPDATE %d on stream %d", wu.Inc, wu.Stream))
				}
			case "Priority":
				var pr struct {
					Stream uint32 `json:"stream_id"`
					Dep    struct {
						Dep       uint32 `json:"dependency_id"`
						Weight    uint8  `json:"weight"`
						Exclusive bool   `json:"is_exclusive"`
					} `json:"dependency"`
				}
				if err := json.Unmarshal(body, &pr); err != nil {
					return nil, nil, fmt.Errorf("h2 PRIORITY: %w", err)
				}
				h2.PriorityFrames = append(h2.PriorityFrames, emulation.Priority{
					StreamID: pr.Stream, Exclusive: pr.Dep.Exclusive, DependsOn: pr.Dep.Dep, Weight: uint16(pr.Dep.Weight) + 1,
				})
			default:
				return nil, nil, fmt.Errorf("h2 early frame %d: unknown kind %q", i, kind)
			}
		}
	}
	if !sawSettings {
		return nil, nil, fmt.Errorf("h2_settings has no SETTINGS frame")
	}
	return h2, dropped, nil
}

// ramaExtension encodes one of rama's tagged extensions and records the
// lists it states in want.
func ramaExtension(raw json.RawMessage, want *SourceLists) (ext, error) {
	var tagged map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tagged); err != nil || len(tagged) != 1 {
		return ext{}, fmt.Errorf("want an object with one tag: %s", trunc(raw))
	}
	for kind, body := range tagged {
		switch kind {
		case "Opaque":
			var o struct {
				ID   *uint16 `json:"id"`
				Data []byte  `json:"-"`
				Raw  []int   `json:"data"`
			}
			if err := json.Unmarshal(body, &o); err != nil || o.ID == nil {
				return ext{}, fmt.Errorf("opaque extension: want {id, data}: %s", trunc(body))
			}
			d := make([]byte, len(o.Raw))
			for i, v := range o.Raw {
				if v < 0 || v > 255 {
					return ext{}, fmt.Errorf("opaque extension %d: byte %d out of range", *o.ID, v)
				}
				d[i] = byte(v)
			}
			switch *o.ID {
			case 41:
				return ext{}, fmt.Errorf("pre_shared_key (a resumed visit)")
			case 45:
				if len(d) > 0 && int(d[0]) == len(d)-1 {
					want.PSKModes = append([]byte(nil), d[1:]...)
				}
			}
			return ext{*o.ID, d}, nil
		case "ServerName":
			var host string
			if err := json.Unmarshal(body, &host); err != nil {
				return ext{}, fmt.Errorf("ServerName: %w", err)
			}
			return ext{0, sniData(host)}, nil
		case "SupportedGroups":
			var l []uint16
			if err := json.Unmarshal(body, &l); err != nil {
				return ext{}, fmt.Errorf("SupportedGroups: %w", err)
			}
			want.Groups = l
			return ext{10, u16list(l)}, nil
		case "ECPointFormats":
			var l []uint8
			if err := json.Unmarshal(body, &l); err != nil {
				var ints []int
				if err := json.Unmarshal(body, &ints); err != nil {
					return ext{}, fmt.Errorf("ECPointFormats: %w", err)
				}
				for _, v := range ints {
					l = append(l, uint8(v))
				}
			}
			want.PointFormat = l
			return ext{11, append([]byte{byte(len(l))}, l...)}, nil
		case "ApplicationLayerProtocolNegotiation":
			ps, err := byteLists(body)
			if err != nil {
				return ext{}, fmt.Errorf("ALPN: %w", err)
			}
			for _, p := range ps {
				want.ALPN = append(want.ALPN, string(p))
			}
			return ext{16, protoList(ps)}, nil
		case "SignatureAlgorithms":
			var l []uint16
			if err := json.Unmarshal(body, &l); err != nil {
				return ext{}, fmt.Errorf("SignatureAlgorithms: %w", err)
			}
			want.SigAlgs = l
			return ext{13, u16list(l)}, nil
		case "SupportedVersions":
			var l []uint16
			if err := json.Unmarshal(body, &l); err != nil {
				return ext{}, fmt.Errorf("SupportedVersions: %w", err)
			}
			want.Versions = l
			return ext{43, u8u16list(l)}, nil
		case "CertificateCompression":
			var l []uint16
			if err := json.Unmarshal(body, &l); err != nil {
				return ext{}, fmt.Errorf("CertificateCompression: %w", err)
			}
			want.CertComp = l
			return ext{27, u8u16list(l)}, nil
		case "DelegatedCredentials":
			var l []uint16
			if err := json.Unmarshal(body, &l); err != nil {
				return ext{}, fmt.Errorf("DelegatedCredentials: %w", err)
			}
			return ext{34, u16list(l)}, nil
		case "RecordSizeLimit":
			var n uint16
			if err := json.Unmarshal(body, &n); err != nil {
				return ext{}, fmt.Errorf("RecordSizeLimit: %w", err)
			}
			return ext{28, []byte{byte(n >> 8), byte(n)}}, nil
		case "ApplicationSettings":
			var a struct {
				New       bool              `json:"new_codepoint"`
				Protocols []json.RawMessage `json:"protocols"`
			}
			if err := json.Unmarshal(body, &a); err != nil {
				return ext{}, fmt.Errorf("ApplicationSettings: %w", err)
			}
			pb, _ := json.Marshal(a.Protocols)
			ps, err := byteLists(pb)
			if err != nil {
				return ext{}, fmt.Errorf("ApplicationSettings: %w", err)
			}
			id := uint16(17513)
			if a.New {
				id = 17613
			}
			return ext{id, protoList(ps)}, nil
		case "EncryptedClientHello":
			var e struct {
				Outer *struct {
					Suite struct {
						AEAD uint16 `json:"aead_id"`
						KDF  uint16 `json:"kdf_id"`
					} `json:"cipher_suite"`
					ConfigID uint8 `json:"config_id"`
					Enc      []int `json:"enc"`
					Payload  []int `json:"payload"`
				} `json:"Outer"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Outer == nil {
				return ext{}, fmt.Errorf("EncryptedClientHello: want an Outer object: %s", trunc(body))
			}
			o := e.Outer
			d := []byte{0, byte(o.Suite.KDF >> 8), byte(o.Suite.KDF), byte(o.Suite.AEAD >> 8), byte(o.Suite.AEAD), o.ConfigID}
			d = append(d, byte(len(o.Enc)>>8), byte(len(o.Enc)))
			for _, v := range o.Enc {
				d = append(d, byte(v))
			}
			d = append(d, byte(len(o.Payload)>>8), byte(len(o.Payload)))
			for _, v := range o.Payload {
				d = append(d, byte(v))
			}
			return ext{0xfe0d, d}, nil
		default:
			return ext{}, fmt.Errorf("unknown extension kind %q", kind)
		}
	}
	panic("unreachable")
}

// byteLists reads [[104,50],...] (JSON arrays of byte values).
func byteLists(b []byte) ([][]byte, error) {
	var ints [][]int
	if err := json.Unmarshal(b, &ints); err != nil {
		return nil, err
	}
	out := make([][]byte, len(ints))
	for i, l := range ints {
		for _, v := range l {
			if v < 0 || v > 255 {
				return nil, fmt.Errorf("byte value %d out of range", v)
			}
			out[i] = append(out[i], byte(v))
		}
	}
	return out, nil
}

func trunc(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func droppedNote(d []string) string {
	if len(d) == 0 {
		return ""
	}
	return "; not carried by the profile format: " + strings.Join(d, ", ")
}
