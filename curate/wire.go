package curate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// WireIdentity is the canonical text of what a profile sends on the wire,
// with per-connection randomness taken out: the ClientHello as JA4_r and
// PeetPrint have it (ciphers and extensions sorted, so Chromium's
// extension shuffle and GREASE values do not matter; groups, signature
// algorithms, versions, ALPN, PSK modes and certificate compression kept),
// and for a browser that speaks HTTP/2 the SETTINGS / WINDOW_UPDATE /
// PRIORITY / pseudo-header order (the Akamai text) and the header name
// order and HEADERS priority of every initiator. HTTP/1.1 header lists
// count only for a profile without HTTP/2: most visitors never load the
// HTTP/1.1-only page, and their visits must group with those who do.
// Header values are left out: they vary by user (language, cookies) while
// the browser build stays the same.
func WireIdentity(p *emulation.Profile) (string, error) {
	ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
	if err != nil {
		return "", fmt.Errorf("curate: wire identity of %s: %w", p.Name, err)
	}
	fp := ch.Fingerprints()
	var b strings.Builder
	fmt.Fprintf(&b, "ja4_r=%s\npeetprint=%s\n", fp.JA4R, fp.PeetPrint)
	if p.H2 != nil {
		ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		fmt.Fprintf(&b, "akamai=%s\n", ak.Text)
	}
	for _, in := range emulation.Initiators() {
		switch {
		case p.H2 != nil:
			if hs, ok := p.H2.Headers[in]; ok {
				fmt.Fprintf(&b, "h2.%s=%s\n", in, names(hs))
			}
			if pr, ok := p.H2.HeadersPriority[in]; ok {
				fmt.Fprintf(&b, "h2.%s.priority=%t:%d:%d\n", in, pr.Exclusive, pr.DependsOn, pr.Weight)
			}
		case p.H1 != nil:
			if hs, ok := p.H1.Headers[in]; ok {
				fmt.Fprintf(&b, "h1.%s=%s\n", in, names(hs))
			}
		}
	}
	return b.String(), nil
}

// WireKey is the hex SHA-256 of WireIdentity: a fixed-size key that two
// visits share exactly when their browsers send the same wire identity.
func WireKey(p *emulation.Profile) (string, error) {
	text, err := WireIdentity(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:]), nil
}

func names(hs []fingerprint.Header) string {
	n := make([]string, len(hs))
	for i, h := range hs {
		n[i] = h.Name
	}
	return strings.Join(n, ",")
}
