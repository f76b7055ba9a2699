package web

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// timeLayout is how pages show times (UTC).
const timeLayout = "2006-01-02 15:04:05 UTC"

// fmtTime formats t for pages; the zero time is "—".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

// orDash shows "—" for an empty value.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// hex16 formats a 16-bit code point as 0x1301 (fmt's "0x%04x").
func hex16(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{'0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]})
}

// fingerprintLink is the population view of value v of kind k.
func fingerprintLink(v string, k store.FingerprintKind) string {
	if v == "" {
		return ""
	}
	return "/fingerprints/" + url.PathEscape(v) + "?kind=" + url.QueryEscape(string(k))
}

// protocolLabel is "HTTP/2" or "HTTP/1.1" for a stored version string.
func protocolLabel(version string) string {
	if version == "" {
		return "—"
	}
	return "HTTP/" + version
}

// reportView prepares a report for the pages.
func reportView(rep *report) templates.Report {
	v := templates.Report{
		CaptureID:       rep.CaptureID,
		CaptureURL:      rep.CaptureURL,
		Created:         fmtTime(rep.CreatedAt),
		Initiator:       rep.Initiator,
		Protocol:        protocolLabel(rep.HTTP.Version),
		Transport:       "plain TCP",
		Method:          rep.Method,
		Path:            rep.Path,
		Host:            rep.Host,
		ClientIP:        orDash(rep.ClientIP),
		UserAgent:       orDash(rep.UserAgent),
		HeaderOrder:     rep.Fingerprints.HeaderOrder,
		HeaderOrderHash: rep.Fingerprints.HeaderOrderHash,
	}
	if !rep.Complete {
		v.Notice = "The request's header block was not captured (the capture listener did not see it, " +
			"or its parser gave up), so headers and header order are missing."
	}
	for _, h := range rep.HTTP.Headers {
		v.Headers = append(v.Headers, templates.HeaderRow{Name: h.Name, Value: h.Value})
	}
	fp := rep.Fingerprints
	add := func(label, value, full string, kind store.FingerprintKind) {
		if value == "" {
			return
		}
		row := templates.FingerprintRow{Label: label, Value: value, Full: full}
		if kind != "" {
			row.Link = fingerprintLink(value, kind)
		}
		v.Fingerprints = append(v.Fingerprints, row)
	}
	add("JA4", fp.JA4, "", store.KindJA4)
	add("JA4_r", fp.JA4R, "", store.KindJA4R)
	add("JA4_o", fp.JA4O, "", "")
	add("JA4_ro", fp.JA4RO, "", "")
	add("JA3", fp.JA3Hash, fp.JA3, store.KindJA3Hash)
	add("JA3N", fp.JA3NHash, fp.JA3N, store.KindJA3NHash)
	add("PeetPrint", fp.PeetPrintHash, fp.PeetPrint, store.KindPeetPrintHash)
	add("Akamai HTTP/2", fp.AkamaiHash, fp.Akamai, store.KindAkamaiHash)
	add("Header order", fp.HeaderOrderHash, fp.HeaderOrder, store.KindHeaderOrderHash)
	add("QUIC transport parameters", fp.QUICTPHash, fp.QUICTP, store.KindQUICTPHash)
	if t := rep.TLS; t != nil {
		v.Transport = orDash(t.Negotiated.Version)
		v.TLS = tlsView(t)
	}
	if h := rep.HTTP.H2; h != nil {
		v.H2 = h2View(h)
	}
	if rep.HTTP.H3 != nil || rep.QUIC != nil {
		v.H3 = h3View(rep.HTTP.H3, rep.QUIC)
		if rep.QUIC != nil && v.TLS != nil {
			v.Transport += " over QUIC"
		}
	}
	return v
}

// h3View prepares the QUIC and HTTP/3 side of a capture; either may be nil.
func h3View(h *H3Summary, q *quicReport) *templates.H3View {
	v := &templates.H3View{QUICVersion: "—"}
	if q != nil {
		v.QUICVersion = q.Version
		if q.InitialPackets > 0 {
			v.Packets = strconv.Itoa(q.InitialPackets)
		}
		v.TP, v.TPHash = q.Text, q.Hash
		v.Params = quicParamRows(q.TransportParameters)
	}
	if h == nil {
		return v
	}
	v.StreamID = strconv.FormatUint(h.StreamID, 10)
	v.PseudoOrder, v.Priority = h.PseudoOrder, h.Priority
	v.Settings = h3SettingRows(h.Settings)
	if !h.SettingsSeen {
		v.SettingsNote = "The client's SETTINGS frame had not arrived when this request was served."
	}
	for _, u := range h.UniStreams {
		v.UniStreams = append(v.UniStreams, "0x"+strconv.FormatUint(u, 16))
	}
	for _, p := range h.PriorityUpdates {
		v.PriorityUpdates = append(v.PriorityUpdates, strconv.FormatUint(p.ElementID, 10)+": "+p.Priority)
	}
	return v
}

// quicParamRows shows transport parameters in wire order: the value as an
// integer when the parameter is one, in hex otherwise.
func quicParamRows(params []fingerprint.QUICParam) []templates.QUICParamRow {
	var out []templates.QUICParamRow
	for _, p := range params {
		val := hex.EncodeToString(p.Value)
		if p.Int != nil {
			val = strconv.FormatUint(*p.Int, 10)
		}
		out = append(out, templates.QUICParamRow{ID: "0x" + strconv.FormatUint(p.ID, 16), Name: p.Name, Value: val, GREASE: p.GREASE})
	}
	return out
}

// h3SettingRows shows HTTP/3 SETTINGS in wire order.
func h3SettingRows(settings []fingerprint.H3Setting) []templates.SettingRow {
	var out []templates.SettingRow
	for _, s := range settings {
		name := s.Name
		if name == "" {
			name = "unknown"
		}
		out = append(out, templates.SettingRow{ID: "0x" + strconv.FormatUint(s.ID, 16), Name: name, Value: strconv.FormatUint(s.Value, 10)})
	}
	return out
}

// namedCodes converts code points with their names.
func namedCodes(vs []uint16, name func(uint16) string) []templates.NamedCode {
	out := make([]templates.NamedCode, len(vs))
	for i, c := range vs {
		out[i] = templates.NamedCode{Code: hex16(c), Name: name(c), GREASE: fingerprint.IsGREASE(c)}
	}
	return out
}

// tlsView prepares the decoded ClientHello.
func tlsView(t *tlsReport) *templates.TLSView {
	ch := t.ClientHello
	v := &templates.TLSView{
		Ciphers:   namedCodes(ch.CipherSuites, fingerprint.CipherSuiteName),
		Groups:    namedCodes(ch.SupportedGroups(), fingerprint.GroupName),
		SigAlgs:   namedCodes(ch.SignatureAlgorithms(), fingerprint.SignatureSchemeName),
		Versions:  namedCodes(ch.SupportedVersions(), fingerprint.VersionName),
		ALPN:      ch.ALPN(),
		RawBase64: base64.StdEncoding.EncodeToString(t.Raw),
		RawLength: len(t.Raw),
	}
	for _, k := range ch.KeyShares() {
		v.KeyShares = append(v.KeyShares, templates.KeyShareRow{
			Group:     templates.NamedCode{Code: hex16(k.Group), Name: fingerprint.GroupName(k.Group), GREASE: fingerprint.IsGREASE(k.Group)},
			KeyLength: k.KeyLength,
		})
	}
	for _, e := range ch.Extensions {
		v.Extensions = append(v.Extensions, templates.ExtensionRow{
			Code:   hex16(e.Type),
			Name:   fingerprint.ExtensionName(e.Type),
			Length: len(e.Data),
			Detail: extensionDetail(e),
			GREASE: e.GREASE || fingerprint.IsGREASE(e.Type),
		})
	}
	for _, a := range ch.Anomalies {
		name := a.Name
		if name == "" {
			name = "unknown"
		}
		v.Anomalies = append(v.Anomalies, templates.AnomalyRow{
			Code: hex16(a.Extension), Name: name, Kind: string(a.Kind), Offset: a.Offset, Message: a.Message,
		})
	}
	compression := make([]string, len(ch.CompressionMethods))
	for i, m := range ch.CompressionMethods {
		compression[i] = fmt.Sprintf("0x%02x", m)
	}
	v.Summary = []templates.KeyValue{
		{Key: "Negotiated version", Value: orDash(t.Negotiated.Version)},
		{Key: "Negotiated cipher", Value: orDash(t.Negotiated.CipherSuite), Mono: true},
		{Key: "Negotiated ALPN", Value: orDash(t.Negotiated.ALPN), Mono: true},
		{Key: "Server name (SNI)", Value: orDash(t.SNI), Mono: true},
		{Key: "Highest version offered", Value: versionLabel(ch.MaxVersion())},
		{Key: "Legacy version", Value: versionLabel(ch.LegacyVersion)},
		{Key: "Record version", Value: versionLabel(ch.RecordVersion)},
		{Key: "Session ID", Value: strconv.Itoa(len(ch.SessionID)) + " bytes"},
		{Key: "Compression methods", Value: strings.Join(compression, ", "), Mono: true},
		{Key: "Resumption (PSK)", Value: yesNo(ch.HasPSK())},
	}
	return v
}

// versionLabel is "TLS 1.2 (0x0303)"; 0 (no record header) is "—".
func versionLabel(v uint16) string {
	if v == 0 {
		return "—"
	}
	if n := fingerprint.VersionName(v); n != "" {
		return n + " (" + hex16(v) + ")"
	}
	return hex16(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// h2View prepares the HTTP/2 summary.
func h2View(h *H2Summary) *templates.H2View {
	v := &templates.H2View{
		StreamID:     strconv.FormatUint(uint64(h.StreamID), 10),
		WindowUpdate: strconv.FormatUint(uint64(h.WindowUpdate), 10),
		PseudoOrder:  h.PseudoOrder,
		HPACK:        h.HPACK,
		Akamai:       orDash(h.Akamai),
		AkamaiHash:   h.AkamaiHash,
	}
	if h.WindowUpdate == 0 {
		v.WindowUpdate = "none"
	}
	if h.FirstStreamID != 0 {
		v.FirstStreamID = strconv.FormatUint(uint64(h.FirstStreamID), 10)
	}
	var parts []string
	for _, wu := range h.StreamWindowUpdates {
		parts = append(parts, strconv.FormatUint(uint64(wu), 10))
	}
	v.StreamWindowUpdates = strings.Join(parts, ", ")
	parts = parts[:0]
	for _, d := range h.Data {
		t := strconv.FormatUint(uint64(d.Length), 10)
		if d.EndStream {
			t += " END_STREAM"
		}
		parts = append(parts, t)
	}
	v.Data = strings.Join(parts, ", ")
	for _, s := range h.Settings {
		v.Settings = append(v.Settings, templates.SettingRow{
			ID:    strconv.FormatUint(uint64(s.ID), 10),
			Name:  fingerprint.H2SettingName(s.ID),
			Value: strconv.FormatUint(uint64(s.Value), 10),
		})
	}
	for _, p := range h.PriorityFrames {
		v.Priorities = append(v.Priorities, priorityRow(p))
	}
	if h.HeadersPriority != nil {
		row := priorityRow(*h.HeadersPriority)
		v.HeadersPriority = &row
	}
	return v
}

func priorityRow(p fingerprint.H2Priority) templates.PriorityRow {
	return templates.PriorityRow{
		StreamID:  strconv.FormatUint(uint64(p.StreamID), 10),
		Exclusive: p.Exclusive,
		DependsOn: strconv.FormatUint(uint64(p.DependsOn), 10),
		Weight:    strconv.FormatUint(uint64(p.Weight), 10),
	}
}

// maxDetailHex bounds the hex shown for undecoded extension data.
const maxDetailHex = 32

// extensionDetail summarises an extension's decoded data in one line.
func extensionDetail(e fingerprint.Extension) string {
	val, err := e.Decode()
	if err != nil {
		return "malformed: " + err.Error()
	}
	switch v := val.(type) {
	case nil:
		if len(e.Data) == 0 {
			return ""
		}
		if len(e.Data) > maxDetailHex {
			return hex.EncodeToString(e.Data[:maxDetailHex]) + "…"
		}
		return hex.EncodeToString(e.Data)
	case fingerprint.ServerNameValue:
		names := make([]string, len(v.Names))
		for i, n := range v.Names {
			names[i] = n.Name
		}
		return strings.Join(names, ", ")
	case fingerprint.StatusRequestValue:
		if v.StatusType == 1 {
			return "OCSP"
		}
		return "status type " + strconv.Itoa(int(v.StatusType))
	case fingerprint.SupportedGroupsValue:
		return joinNamed(v.Groups)
	case fingerprint.PointFormatsValue:
		return joinNamed(v.Formats)
	case fingerprint.SignatureAlgorithmsValue:
		return joinNamed(v.Algorithms)
	case fingerprint.UseSRTPValue:
		return strconv.Itoa(len(v.Profiles)) + " profiles"
	case fingerprint.ALPNValue:
		return strings.Join(v.Protocols, ", ")
	case fingerprint.PaddingValue:
		return strconv.Itoa(v.Length) + " bytes"
	case fingerprint.EmptyValue:
		return "empty"
	case fingerprint.CompressCertificateValue:
		return joinNamed(v.Algorithms)
	case fingerprint.RecordSizeLimitValue:
		return "limit " + strconv.Itoa(int(v.Limit))
	case fingerprint.OpaqueValue:
		return strconv.Itoa(v.Length) + " bytes"
	case fingerprint.PreSharedKeyValue:
		return strconv.Itoa(len(v.Identities)) + " identities (session resumption)"
	case fingerprint.SupportedVersionsValue:
		return joinNamed(v.Versions)
	case fingerprint.PSKModesValue:
		return joinNamed(v.Modes)
	case fingerprint.CertificateAuthoritiesValue:
		return strconv.Itoa(v.Count) + " authorities"
	case fingerprint.KeyShareValue:
		parts := make([]string, len(v.Shares))
		for i, s := range v.Shares {
			n := s.Name
			if n == "" {
				n = hex16(s.Group)
			}
			parts[i] = n + " (" + strconv.Itoa(s.KeyLength) + " B)"
		}
		return strings.Join(parts, ", ")
	case fingerprint.QUICTransportParametersValue:
		return strconv.Itoa(len(v.Params)) + " parameters"
	case fingerprint.ApplicationSettingsValue:
		return strings.Join(v.Protocols, ", ")
	case fingerprint.ECHValue:
		if v.Type != "outer" {
			return v.Type
		}
		return fmt.Sprintf("outer · %s · %s · config %d · enc %d B · payload %d B",
			namedOrHex(v.KDF), namedOrHex(v.AEAD), v.ConfigID, v.EncLength, v.PayloadLength)
	}
	b, err := json.Marshal(val)
	if err != nil {
		return ""
	}
	return string(b)
}

// joinNamed lists named values by name (hex when unknown).
func joinNamed(vs []fingerprint.NamedValue) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = namedOrHex(v)
	}
	return strings.Join(parts, ", ")
}

func namedOrHex(v fingerprint.NamedValue) string {
	if v.Name != "" {
		return v.Name
	}
	return hex16(v.Value)
}
