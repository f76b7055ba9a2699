package importer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// ToRama writes p in rama-ua's profile shape (one element of
// embed_profiles.json), so rama users can load profiles fpserver collects.
// The ClientHello is written as rama's structured hello: the extensions
// rama names (server name, groups, point formats, ALPN, signature
// algorithms, supported versions, certificate compression, delegated
// credentials, record size limit, ALPS, outer ECH) tagged, every other one
// Opaque with its bytes. Header values the profile leaves to the caller are
// empty; a profile without HTTP/1.1 or HTTP/2 data gives null lists.
func ToRama(p *emulation.Profile) ([]byte, error) {
	ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
	if err != nil {
		return nil, fmt.Errorf("importer: exporting %s: %w", p.Name, err)
	}
	exts := make([]any, 0, len(ch.Extensions))
	for _, e := range ch.Extensions {
		exts = append(exts, ramaExt(e))
	}
	ciphers := ch.CipherSuites
	comp := make([]int, len(ch.CompressionMethods))
	for i, c := range ch.CompressionMethods {
		comp[i] = int(c)
	}
	out := map[string]any{
		"uastr": p.UserAgent,
		"tls_client_hello": map[string]any{
			"protocol_version":       ch.LegacyVersion,
			"cipher_suites":          ciphers,
			"compression_algorithms": comp,
			"extensions":             exts,
		},
		"h1_settings":                     map[string]any{"title_case_headers": false},
		"tls_ws_client_config_overwrites": map[string]any{"alpn": [][]int{bytesOf("http/1.1")}},
		"js_web_apis":                     nil,
		"source_info": map[string]any{
			"browser_name": p.Browser, "browser_version": p.Version, "device_name": "", "os": p.Platform, "os_version": "",
		},
		"updated_at": p.Source.BuiltAt.UTC().Format("2006-01-02 15:04:05"),
	}
	if p.Source.BuiltAt.IsZero() {
		out["updated_at"] = time.Unix(0, 0).UTC().Format("2006-01-02 15:04:05")
	}
	names := map[emulation.Initiator]string{emulation.Navigate: "navigate", emulation.Fetch: "fetch", emulation.XHR: "xhr", emulation.Form: "form", emulation.WebSocket: "ws"}
	for in, n := range names {
		out["h1_headers_"+n] = nil
		out["h2_headers_"+n] = nil
		if p.H1 != nil && len(p.H1.Headers[in]) > 0 {
			out["h1_headers_"+n] = pairs(p.H1.Headers[in])
		}
		if p.H2 != nil && len(p.H2.Headers[in]) > 0 {
			out["h2_headers_"+n] = pairs(p.H2.Headers[in])
		}
	}
	out["h2_settings"] = nil
	if p.H2 != nil {
		cfg := map[string]any{}
		for name := range ramaSettingIDs {
			cfg[name] = nil
		}
		order := []uint16{}
		for _, s := range p.H2.Settings {
			name := ""
			for n, id := range ramaSettingIDs {
				if id == s.ID {
					name = n
				}
			}
			if name == "" {
				return nil, fmt.Errorf("importer: exporting %s: rama has no name for SETTINGS id %d", p.Name, s.ID)
			}
			cfg[name] = s.Value // rama writes every value as a number
			order = append(order, s.ID)
		}
		cfg["setting_order"] = order
		frames := []any{map[string]any{"Settings": map[string]any{"config": cfg, "flags": 0}}}
		if p.H2.WindowUpdate != 0 {
			frames = append(frames, map[string]any{"WindowUpdate": map[string]any{"size_increment": p.H2.WindowUpdate, "stream_id": 0}})
		}
		if p.H2.StreamWindowUpdate != 0 {
			frames = append(frames, map[string]any{"WindowUpdate": map[string]any{"size_increment": p.H2.StreamWindowUpdate, "stream_id": max(p.H2.FirstStreamID, 1)}})
		}
		for _, pr := range p.H2.PriorityFrames {
			frames = append(frames, map[string]any{"Priority": map[string]any{"stream_id": pr.StreamID, "dependency": map[string]any{
				"dependency_id": pr.DependsOn, "weight": pr.Weight - 1, "is_exclusive": pr.Exclusive}}})
		}
		out["h2_settings"] = map[string]any{"early_frames": frames, "http_pseudo_headers": p.H2.PseudoOrder}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("importer: exporting %s: %w", p.Name, err)
	}
	return append(b, '\n'), nil
}

func pairs(hs []emulation.Header) [][2]string {
	out := make([][2]string, len(hs))
	for i, h := range hs {
		out[i] = [2]string{h.Name, h.Value}
	}
	return out
}

func bytesOf(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

func intsOf(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func u16sOf(b []byte) ([]uint16, bool) {
	if len(b)%2 != 0 {
		return nil, false
	}
	out := make([]uint16, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		out = append(out, binary.BigEndian.Uint16(b[i:]))
	}
	return out, true
}

// ramaExt writes one extension as rama tags it; anything it cannot read
// back exactly stays Opaque.
func ramaExt(e fingerprint.Extension) any {
	d := []byte(e.Data)
	opaque := map[string]any{"Opaque": map[string]any{"id": e.Type, "data": intsOf(d)}}
	u16list := func(prefix int) ([]uint16, bool) {
		if len(d) < prefix {
			return nil, false
		}
		n := int(d[0])
		if prefix == 2 {
			n = int(binary.BigEndian.Uint16(d))
		}
		if n != len(d)-prefix {
			return nil, false
		}
		return u16sOf(d[prefix:])
	}
	protos := func(b []byte) ([][]int, bool) {
		if len(b) < 2 || int(binary.BigEndian.Uint16(b)) != len(b)-2 {
			return nil, false
		}
		var out [][]int
		for r := b[2:]; len(r) > 0; {
			n := int(r[0])
			if len(r) < 1+n {
				return nil, false
			}
			out = append(out, intsOf(r[1:1+n]))
			r = r[1+n:]
		}
		return out, true
	}
	switch e.Type {
	case 0:
		if len(d) >= 5 && d[2] == 0 && int(binary.BigEndian.Uint16(d[3:])) == len(d)-5 && int(binary.BigEndian.Uint16(d)) == len(d)-2 {
			return map[string]any{"ServerName": string(d[5:])}
		}
	case 10:
		if l, ok := u16list(2); ok {
			return map[string]any{"SupportedGroups": l}
		}
	case 11:
		if len(d) >= 1 && int(d[0]) == len(d)-1 {
			return map[string]any{"ECPointFormats": intsOf(d[1:])}
		}
	case 13:
		if l, ok := u16list(2); ok {
			return map[string]any{"SignatureAlgorithms": l}
		}
	case 16:
		if ps, ok := protos(d); ok {
			return map[string]any{"ApplicationLayerProtocolNegotiation": ps}
		}
	case 27:
		if l, ok := u16list(1); ok {
			return map[string]any{"CertificateCompression": l}
		}
	case 28:
		if len(d) == 2 {
			return map[string]any{"RecordSizeLimit": binary.BigEndian.Uint16(d)}
		}
	case 34:
		if l, ok := u16list(2); ok {
			return map[string]any{"DelegatedCredentials": l}
		}
	case 43:
		if l, ok := u16list(1); ok {
			return map[string]any{"SupportedVersions": l}
		}
	case 17513, 17613:
		if ps, ok := protos(d); ok {
			return map[string]any{"ApplicationSettings": map[string]any{"new_codepoint": e.Type == 17613, "protocols": ps}}
		}
	case 0xfe0d:
		if len(d) >= 8 && d[0] == 0 {
			encLen := int(binary.BigEndian.Uint16(d[6:]))
			if len(d) >= 10+encLen {
				pl := int(binary.BigEndian.Uint16(d[8+encLen:]))
				if len(d) == 10+encLen+pl {
					return map[string]any{"EncryptedClientHello": map[string]any{"Outer": map[string]any{
						"cipher_suite": map[string]any{"kdf_id": binary.BigEndian.Uint16(d[1:]), "aead_id": binary.BigEndian.Uint16(d[3:])},
						"config_id":    d[5],
						"enc":          intsOf(d[8 : 8+encLen]),
						"payload":      intsOf(d[10+encLen:]),
					}}}
				}
			}
		}
	}
	return opaque
}
