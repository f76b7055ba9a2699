// Package importer converts published browser profiles (rama's
// embed_profiles.json, curl-impersonate's signature YAML) into emulation
// profiles. The ClientHello is assembled from the source's structured
// fields and checked by re-parsing it with the fingerprint package: the
// parsed lists must equal the source's. Every record either converts or is
// reported with its problem; none is dropped silently.
package importer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// ext is one extension as it goes on the wire.
type ext struct {
	typ  uint16
	data []byte
}

// helloSpec is the structured ClientHello a source describes.
type helloSpec struct {
	legacyVersion uint16
	ciphers       []uint16
	compression   []byte
	exts          []ext
	// seed makes random and session id deterministic per record.
	seed string
}

// assemble writes the hello as one TLS record (16 03 01 LL LL 01 ...).
func (s *helloSpec) assemble() ([]byte, error) {
	sum := sha256.Sum256([]byte("guanaco-import/" + s.seed))
	sid := sha256.Sum256(sum[:])
	var body []byte
	body = binary.BigEndian.AppendUint16(body, s.legacyVersion)
	body = append(body, sum[:]...)
	body = append(body, 32)
	body = append(body, sid[:]...)
	if len(s.ciphers) == 0 {
		return nil, fmt.Errorf("no cipher suites")
	}
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(s.ciphers)))
	for _, c := range s.ciphers {
		body = binary.BigEndian.AppendUint16(body, c)
	}
	comp := s.compression
	if len(comp) == 0 {
		comp = []byte{0}
	}
	body = append(body, byte(len(comp)))
	body = append(body, comp...)
	var exts []byte
	for _, e := range s.exts {
		if len(e.data) > 0xffff {
			return nil, fmt.Errorf("extension %d: %d bytes of data", e.typ, len(e.data))
		}
		exts = binary.BigEndian.AppendUint16(exts, e.typ)
		exts = binary.BigEndian.AppendUint16(exts, uint16(len(e.data)))
		exts = append(exts, e.data...)
	}
	if len(exts) > 0xffff {
		return nil, fmt.Errorf("extensions block of %d bytes", len(exts))
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
	body = append(body, exts...)
	if len(body) > 0xffff-4 {
		return nil, fmt.Errorf("hello of %d bytes does not fit one record", len(body))
	}
	msg := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	msg = append(msg, body...)
	rec := []byte{0x16, 0x03, 0x01, byte(len(msg) >> 8), byte(len(msg))}
	return append(rec, msg...), nil
}

// SourceLists are the lists a source states, compared with what our parser
// reads back from the assembled hello. GREASE placeholders hold the values
// the importer wrote.
type SourceLists struct {
	Ciphers     []uint16
	Extensions  []uint16
	Groups      []uint16
	SigAlgs     []uint16
	Versions    []uint16
	ALPN        []string
	CertComp    []uint16
	PSKModes    []uint8
	PointFormat []uint8
}

// verify re-parses raw and checks every list against want.
func verify(raw []byte, want SourceLists) (*fingerprint.ClientHello, error) {
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		return nil, fmt.Errorf("assembled hello does not parse: %w", err)
	}
	if ch.HasPSK() {
		return nil, fmt.Errorf("hello carries pre_shared_key")
	}
	var types []uint16
	for _, e := range ch.Extensions {
		types = append(types, e.Type)
	}
	checks := []struct {
		what      string
		got, want any
		eq        bool
	}{
		{"cipher suites", ch.CipherSuites, want.Ciphers, slices.Equal(ch.CipherSuites, want.Ciphers)},
		{"extensions", types, want.Extensions, slices.Equal(types, want.Extensions)},
		{"supported groups", ch.SupportedGroups(), want.Groups, slices.Equal(ch.SupportedGroups(), want.Groups)},
		{"signature algorithms", ch.SignatureAlgorithms(), want.SigAlgs, slices.Equal(ch.SignatureAlgorithms(), want.SigAlgs)},
		{"supported versions", ch.SupportedVersions(), want.Versions, slices.Equal(ch.SupportedVersions(), want.Versions)},
		{"alpn", ch.ALPN(), want.ALPN, slices.Equal(ch.ALPN(), want.ALPN)},
		{"cert compression", ch.CertCompressionAlgs(), want.CertComp, slices.Equal(ch.CertCompressionAlgs(), want.CertComp)},
		{"psk modes", ch.PSKModes(), want.PSKModes, slices.Equal(ch.PSKModes(), want.PSKModes)},
		{"point formats", ch.PointFormats(), want.PointFormat, slices.Equal(ch.PointFormats(), want.PointFormat)},
	}
	for _, c := range checks {
		if !c.eq {
			return nil, fmt.Errorf("re-parsed %s %v differ from the source's %v", c.what, c.got, c.want)
		}
	}
	return ch, nil
}

// wire helpers

func u16list(vs []uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(2*len(vs)))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func u8u16list(vs []uint16) []byte {
	b := []byte{byte(2 * len(vs))}
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func protoList(ps [][]byte) []byte {
	var l []byte
	for _, p := range ps {
		l = append(l, byte(len(p)))
		l = append(l, p...)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(l))), l...)
}

func sniData(host string) []byte {
	e := []byte{0}
	e = binary.BigEndian.AppendUint16(e, uint16(len(host)))
	e = append(e, host...)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(e))), e...)
}

// NameSuffix is the suffix a profile converted from the format from gets
// when its name is already taken by a profile of another origin: "-rama" or
// "-curlimp".
func NameSuffix(from string) string {
	if from == "curl-impersonate" {
		return "-curlimp"
	}
	return "-" + from
}

// Sources names the formats Convert reads.
func Sources() []string { return []string{"rama", "curl-impersonate"} }

// Convert reads path in the format from (one of Sources): rama's
// embed_profiles.json file, or a curl-impersonate signature file or
// directory of them. The provenance is the copy in guanaco's
// profile-sources (project, commit, licence); callers converting another
// revision can edit Origin on the results.
func Convert(from, path string) (*Result, error) {
	switch from {
	case "rama":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		return FromRama(b, RamaOrigin)
	case "curl-impersonate":
		return FromCurlImpersonate(path, CurlImpersonateOrigin)
	}
	return nil, fmt.Errorf("importer: unknown source format %q (want rama or curl-impersonate)", from)
}
