package web

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/internal/jsontext"
)

// The live answers (/api/clean, /api/fingerprint, the probes) are encoded by
// the appenders in this file instead of encoding/json's reflection. Their
// output is byte for byte what encodeJSON (a json.Encoder, HTML escaping on,
// trailing newline) writes for the same value; TestFastJSONMatchesEncodingJSON
// holds them to that over generated captures and hostile strings. A field
// added to one of these types must be added here too (the test fails until
// it is).

// appendJSONKey appends `"key":`; key must need no escaping.
func appendJSONKey(dst []byte, key string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendJSONBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped). It fails for years outside 0..9999,
// as MarshalJSON does.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		b, err := t.MarshalJSON() // the same error encoding/json reports
		return append(dst, b...), err
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendHeaders appends the header list as [[name, value], ...]; nil is null.
func appendHeaders(dst []byte, hs []fingerprint.Header) []byte {
	if hs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = jsontext.AppendString(dst, h.Name)
		dst = append(dst, ',')
		dst = jsontext.AppendString(dst, h.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, s)
	}
	return append(dst, ']')
}

func appendH2Priority(dst []byte, p *fingerprint.H2Priority) []byte {
	dst = append(dst, `{"stream_id":`...)
	dst = strconv.AppendUint(dst, uint64(p.StreamID), 10)
	dst = append(dst, `,"exclusive":`...)
	dst = appendJSONBool(dst, p.Exclusive)
	dst = append(dst, `,"depends_on":`...)
	dst = strconv.AppendUint(dst, uint64(p.DependsOn), 10)
	dst = append(dst, `,"weight":`...)
	dst = strconv.AppendUint(dst, uint64(p.Weight), 10)
	return append(dst, '}')
}

// appendH2Summary appends the "h2" object (H2Summary's JSON).
func appendH2Summary(dst []byte, h *H2Summary) ([]byte, error) {
	dst = append(dst, `{"stream_id":`...)
	dst = strconv.AppendUint(dst, uint64(h.StreamID), 10)
	if h.FirstStreamID != 0 {
		dst = append(dst, `,"first_stream_id":`...)
		dst = strconv.AppendUint(dst, uint64(h.FirstStreamID), 10)
	}
	dst = append(dst, `,"settings":`...)
	if h.Settings == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, s := range h.Settings {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = strconv.AppendUint(dst, uint64(s.ID), 10)
			dst = append(dst, ',')
			dst = strconv.AppendUint(dst, uint64(s.Value), 10)
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"window_update":`...)
	dst = strconv.AppendUint(dst, uint64(h.WindowUpdate), 10)
	dst = append(dst, `,"priority_frames":`...)
	if h.PriorityFrames == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range h.PriorityFrames {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendH2Priority(dst, &h.PriorityFrames[i])
		}
		dst = append(dst, ']')
	}
	if h.HeadersPriority != nil {
		dst = append(dst, `,"headers_priority":`...)
		dst = appendH2Priority(dst, h.HeadersPriority)
	}
	dst = append(dst, `,"pseudo_order":`...)
	dst = appendStrings(dst, h.PseudoOrder)
	if h.HPACK != "" {
		dst = append(dst, `,"hpack":`...)
		dst = jsontext.AppendString(dst, h.HPACK)
	}
	if len(h.StreamWindowUpdates) > 0 {
		dst = append(dst, `,"stream_window_updates":[`...)
		for i, v := range h.StreamWindowUpdates {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(v), 10)
		}
		dst = append(dst, ']')
	}
	if len(h.Data) > 0 {
		// Only requests with a body: encoding/json's output as is.
		b, err := json.Marshal(h.Data)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"data":`...)
		dst = append(dst, b...)
	}
	dst = append(dst, `,"akamai":`...)
	dst = jsontext.AppendString(dst, h.Akamai)
	dst = append(dst, `,"akamai_hash":`...)
	dst = jsontext.AppendString(dst, h.AkamaiHash)
	return append(dst, '}'), nil
}

// appendFingerprintFields appends the fingerprints' members without braces
// (the "fingerprints" object, or the flat tail of the clean answer). info,
// when set, is the live connection the fingerprints came from: the TLS
// members (the longest strings) are then encoded once per connection.
func appendFingerprintFields(dst []byte, f *fingerprints, conn *connMemo) []byte {
	if conn != nil && sameTLSFingerprints(f, &conn.info.Fingerprints) {
		conn.fpJSONOnce.Do(func() { conn.fpJSON = appendTLSFingerprintFields(nil, f) })
		dst = append(dst, conn.fpJSON...)
	} else {
		dst = appendTLSFingerprintFields(dst, f)
	}
	for _, kv := range [...]struct{ k, v string }{
		{"akamai", f.Akamai}, {"akamai_hash", f.AkamaiHash},
		{"header_order", f.HeaderOrder}, {"header_order_hash", f.HeaderOrderHash},
	} {
		dst = append(dst, ',')
		dst = appendJSONKey(dst, kv.k)
		dst = jsontext.AppendString(dst, kv.v)
	}
	if f.QUICTP != "" {
		dst = append(dst, `,"quic_tp":`...)
		dst = jsontext.AppendString(dst, f.QUICTP)
	}
	if f.QUICTPHash != "" {
		dst = append(dst, `,"quic_tp_hash":`...)
		dst = jsontext.AppendString(dst, f.QUICTPHash)
	}
	return dst
}

// appendTLSFingerprintFields appends the TLS members of f, "ja3" to
// "peetprint_hash".
func appendTLSFingerprintFields(dst []byte, f *fingerprints) []byte {
	for i, kv := range [...]struct{ k, v string }{
		{"ja3", f.JA3}, {"ja3_hash", f.JA3Hash}, {"ja3n", f.JA3N}, {"ja3n_hash", f.JA3NHash},
		{"ja4", f.JA4}, {"ja4_r", f.JA4R}, {"ja4_o", f.JA4O}, {"ja4_ro", f.JA4RO},
		{"peetprint", f.PeetPrint}, {"peetprint_hash", f.PeetPrintHash},
	} {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, kv.k)
		dst = jsontext.AppendString(dst, kv.v)
	}
	return dst
}

// sameTLSFingerprints reports whether f's TLS members are the connection's
// (liveReport copies them, so the strings are the same and compare at once).
func sameTLSFingerprints(f *fingerprints, fp *fingerprint.TLSFingerprints) bool {
	return f.JA3 == fp.JA3 && f.JA3Hash == fp.JA3Hash && f.JA3N == fp.JA3N && f.JA3NHash == fp.JA3NHash &&
		f.JA4 == fp.JA4 && f.JA4R == fp.JA4R && f.JA4O == fp.JA4O && f.JA4RO == fp.JA4RO &&
		f.PeetPrint == fp.PeetPrint && f.PeetPrintHash == fp.PeetPrintHash
}

// appendCleanReport appends the /api/clean answer and a newline.
func appendCleanReport(dst []byte, c *cleanReport) []byte {
	dst = append(dst, `{"capture_id":`...)
	dst = jsontext.AppendString(dst, c.CaptureID)
	dst = append(dst, `,"stored":`...)
	dst = jsontext.AppendString(dst, c.Stored)
	if c.StoredReason != "" {
		dst = append(dst, `,"stored_reason":`...)
		dst = jsontext.AppendString(dst, c.StoredReason)
	}
	dst = append(dst, `,"http_version":`...)
	dst = jsontext.AppendString(dst, c.HTTPVersion)
	dst = append(dst, `,"user_agent":`...)
	dst = jsontext.AppendString(dst, c.UserAgent)
	dst = append(dst, ',')
	dst = appendFingerprintFields(dst, &c.fingerprints, c.conn)
	return append(dst, '}', '\n')
}

// appendReport appends the report and a newline. The "tls" object is the
// tlsReport's own encoding, computed once per live connection.
func appendReport(dst []byte, rep *report) ([]byte, error) {
	dst = append(dst, `{"capture_id":`...)
	dst = jsontext.AppendString(dst, rep.CaptureID)
	dst = append(dst, `,"capture_url":`...)
	dst = jsontext.AppendString(dst, rep.CaptureURL)
	if rep.Stored != "" {
		dst = append(dst, `,"stored":`...)
		dst = jsontext.AppendString(dst, rep.Stored)
	}
	if rep.StoredReason != "" {
		dst = append(dst, `,"stored_reason":`...)
		dst = jsontext.AppendString(dst, rep.StoredReason)
	}
	dst = append(dst, `,"created_at":`...)
	dst, err := appendJSONTime(dst, rep.CreatedAt)
	if err != nil {
		return nil, err
	}
	for _, kv := range [...]struct{ k, v string }{
		{"initiator", rep.Initiator}, {"client_ip", rep.ClientIP}, {"host", rep.Host},
		{"method", rep.Method}, {"path", rep.Path}, {"user_agent", rep.UserAgent},
	} {
		dst = append(dst, ',')
		dst = appendJSONKey(dst, kv.k)
		dst = jsontext.AppendString(dst, kv.v)
	}
	dst = append(dst, `,"complete":`...)
	dst = appendJSONBool(dst, rep.Complete)
	dst = append(dst, `,"tls":`...)
	if rep.TLS == nil {
		dst = append(dst, "null"...)
	} else {
		b, err := rep.TLS.MarshalJSON()
		if err != nil {
			return nil, err
		}
		dst = append(dst, b...)
	}
	if rep.QUIC != nil {
		// HTTP/3 captures only: encoding/json's output as is.
		b, err := json.Marshal(rep.QUIC)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"quic":`...)
		dst = append(dst, b...)
	}
	dst = append(dst, `,"http":{"version":`...)
	dst = jsontext.AppendString(dst, rep.HTTP.Version)
	dst = append(dst, `,"headers":`...)
	dst = appendHeaders(dst, rep.HTTP.Headers)
	dst = append(dst, `,"header_order":`...)
	dst = jsontext.AppendString(dst, rep.HTTP.HeaderOrder)
	if rep.HTTP.H2 != nil {
		dst = append(dst, `,"h2":`...)
		if dst, err = appendH2Summary(dst, rep.HTTP.H2); err != nil {
			return nil, err
		}
	}
	if rep.HTTP.H3 != nil {
		b, err := json.Marshal(rep.HTTP.H3)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"h3":`...)
		dst = append(dst, b...)
	}
	dst = append(dst, `},"fingerprints":{`...)
	dst = appendFingerprintFields(dst, &rep.Fingerprints, rep.conn)
	dst = append(dst, '}')
	if rep.Verdict != nil {
		// Only GET / and /api/fingerprint carry one: encoded by
		// encoding/json, whose Marshal output is what its Encoder writes
		// for the field.
		b, err := json.Marshal(rep.Verdict)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `,"verdict":`...)
		dst = append(dst, b...)
	}
	return append(dst, '}', '\n'), nil
}

// appendUint16s appends a list of numbers; nil is null.
func appendUint16s(dst []byte, vs []uint16) []byte {
	if vs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(v), 10)
	}
	return append(dst, ']')
}

// appendHex appends b as a JSON string of lower-case hex digits
// (fingerprint.HexBytes' text form).
func appendHex(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendTLSReport appends the "tls" object as encoding/json writes a
// plainTLSReport: the embedded ClientHello's fields (its raw message
// shadowed by the record bytes), then the record bytes, SNI, ALPN and the
// negotiated parameters. The extensions are their own AppendJSON output,
// which is compact already: encoding/json would scan and copy each one
// again, the key share's kilobytes of hex included.
func appendTLSReport(dst []byte, t *tlsReport) ([]byte, error) {
	dst = append(dst, '{')
	if ch := t.ClientHello; ch != nil {
		dst = append(dst, `"transport":`...)
		dst = jsontext.AppendString(dst, string(ch.Transport))
		dst = append(dst, `,"record_version":`...)
		dst = strconv.AppendUint(dst, uint64(ch.RecordVersion), 10)
		dst = append(dst, `,"legacy_version":`...)
		dst = strconv.AppendUint(dst, uint64(ch.LegacyVersion), 10)
		dst = append(dst, `,"random":`...)
		dst = appendHex(dst, ch.Random)
		dst = append(dst, `,"session_id":`...)
		dst = appendHex(dst, ch.SessionID)
		dst = append(dst, `,"cipher_suites":`...)
		dst = appendUint16s(dst, ch.CipherSuites)
		dst = append(dst, `,"compression_methods":`...)
		dst = appendHex(dst, ch.CompressionMethods)
		dst = append(dst, `,"extensions":`...)
		if ch.Extensions == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '[')
			for i, e := range ch.Extensions {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = e.AppendJSON(dst)
			}
			dst = append(dst, ']')
		}
		if len(ch.Anomalies) > 0 {
			dst = append(dst, `,"anomalies":[`...)
			for i, a := range ch.Anomalies {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"extension":`...)
				dst = strconv.AppendUint(dst, uint64(a.Extension), 10)
				if a.Name != "" {
					dst = append(dst, `,"name":`...)
					dst = jsontext.AppendString(dst, a.Name)
				}
				dst = append(dst, `,"kind":`...)
				dst = jsontext.AppendString(dst, string(a.Kind))
				dst = append(dst, `,"offset":`...)
				dst = strconv.AppendInt(dst, int64(a.Offset), 10)
				dst = append(dst, `,"message":`...)
				dst = jsontext.AppendString(dst, a.Message)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, ',')
	}
	if len(t.Raw) > 0 {
		dst = append(dst, `"raw":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, t.Raw)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"sni":`...)
	dst = jsontext.AppendString(dst, t.SNI)
	dst = append(dst, `,"alpn":`...)
	dst = appendStrings(dst, t.ALPN)
	dst = append(dst, `,"negotiated":{"version":`...)
	dst = jsontext.AppendString(dst, t.Negotiated.Version)
	dst = append(dst, `,"cipher_suite":`...)
	dst = jsontext.AppendString(dst, t.Negotiated.CipherSuite)
	dst = append(dst, `,"alpn":`...)
	dst = jsontext.AppendString(dst, t.Negotiated.ALPN)
	return append(dst, '}', '}'), nil
}

// appendTLSSummary appends s as encoding/json writes a tlsSummary (the
// stored TLS summary, whose bytes are deduplicated by hash: they must not
// change).
func appendTLSSummary(dst []byte, s *tlsSummary) []byte {
	dst = append(dst, `{"sni":`...)
	dst = jsontext.AppendString(dst, s.SNI)
	dst = append(dst, `,"alpn":`...)
	dst = appendStrings(dst, s.ALPN)
	dst = append(dst, `,"max_version":`...)
	dst = jsontext.AppendString(dst, s.MaxVersion)
	dst = append(dst, `,"cipher_suites":`...)
	dst = appendUint16s(dst, s.CipherSuites)
	dst = append(dst, `,"extensions":`...)
	dst = appendUint16s(dst, s.Extensions)
	dst = append(dst, `,"supported_groups":`...)
	dst = appendUint16s(dst, s.SupportedGroups)
	dst = append(dst, `,"signature_algorithms":`...)
	dst = appendUint16s(dst, s.SigAlgs)
	dst = append(dst, `,"negotiated":{"version":`...)
	dst = jsontext.AppendString(dst, s.Negotiated.Version)
	dst = append(dst, `,"cipher_suite":`...)
	dst = jsontext.AppendString(dst, s.Negotiated.CipherSuite)
	dst = append(dst, `,"alpn":`...)
	dst = jsontext.AppendString(dst, s.Negotiated.ALPN)
	dst = append(dst, '}')
	if q := s.QUIC; q != nil {
		dst = append(dst, `,"quic":{"version":`...)
		dst = jsontext.AppendString(dst, q.Version)
		dst = append(dst, `,"negotiated_version":`...)
		dst = jsontext.AppendString(dst, q.NegotiatedVersion)
		if q.InitialPackets != 0 {
			dst = append(dst, `,"initial_packets":`...)
			dst = strconv.AppendInt(dst, int64(q.InitialPackets), 10)
		}
		dst = append(dst, '}')
	}
	if len(s.Truncated) > 0 {
		dst = append(dst, `,"truncated":`...)
		dst = appendStrings(dst, s.Truncated)
	}
	return append(dst, '}')
}
