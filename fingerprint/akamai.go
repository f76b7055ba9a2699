package fingerprint

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
)

// AkamaiFP is the Akamai HTTP/2 fingerprint (DESIGN §4.2):
// Text is SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO and Hash the MD5 of Text in
// lower-case hex.
type AkamaiFP struct {
	Text string `json:"text"`
	Hash string `json:"hash"`
}

// AkamaiString computes the Akamai fingerprint from explicit values, so a
// profile's expected fingerprint can be computed without a byte stream:
//
//   - settings as "id:value" in the given order joined by ";" (unknown ids
//     kept by number; empty when there are none);
//   - windowUpdate as a decimal number, or "00" when it is 0;
//   - prios as "stream:exclusive:dependency:weight" joined by ",", with
//     exclusive 0 or 1 and the real weight (1-256), or "0" when empty;
//   - pseudo as one letter per pseudo-header joined by ",": the first
//     character after the leading ':' (":method" m, ":authority" a,
//     ":scheme" s, ":path" p; ":protocol" also gives p, as on
//     tls.peet.ws). An element without ':' contributes its first character,
//     so letters may be passed directly; empty elements are skipped.
func AkamaiString(settings []H2Setting, windowUpdate uint32, prios []H2Priority, pseudo []string) AkamaiFP {
	b := make([]byte, 0, 64+len(settings)*16+len(prios)*24+len(pseudo)*2)
	for i, s := range settings {
		if i > 0 {
			b = append(b, ';')
		}
		b = strconv.AppendUint(b, uint64(s.ID), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(s.Value), 10)
	}
	b = append(b, '|')
	if windowUpdate == 0 {
		b = append(b, "00"...)
	} else {
		b = strconv.AppendUint(b, uint64(windowUpdate), 10)
	}
	b = append(b, '|')
	if len(prios) == 0 {
		b = append(b, '0')
	}
	for i, p := range prios {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(p.StreamID), 10)
		b = append(b, ':')
		if p.Exclusive {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(p.DependsOn), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(p.Weight), 10)
	}
	b = append(b, '|')
	first := true
	for _, name := range pseudo {
		letter, ok := akamaiPseudoLetter(name)
		if !ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, letter)
	}
	sum := md5.Sum(b)
	return AkamaiFP{Text: string(b), Hash: hex.EncodeToString(sum[:])}
}

// akamaiPseudoLetter returns the letter for a pseudo-header name.
func akamaiPseudoLetter(name string) (byte, bool) {
	if len(name) > 0 && name[0] == ':' {
		name = name[1:]
	}
	if name == "" {
		return 0, false
	}
	return name[0], true
}
