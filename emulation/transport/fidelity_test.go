package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// fpReport is the part of fpserver's /api/fingerprint and /api/echo JSON
// the fidelity test compares.
type fpReport struct {
	HTTP struct {
		Version string      `json:"version"`
		Headers [][2]string `json:"headers"`
		H2      *struct {
			StreamID        uint32                  `json:"stream_id"`
			HeadersPriority *fingerprint.H2Priority `json:"headers_priority"`
		} `json:"h2"`
	} `json:"http"`
	Fingerprints struct {
		JA3    string `json:"ja3"`
		JA4    string `json:"ja4"`
		JA4R   string `json:"ja4_r"`
		Akamai string `json:"akamai"`
	} `json:"fingerprints"`
	BodyLength int64 `json:"body_length"`
}

// fidelityRequest builds the request a browser would send for in, with
// every caller-only header the profiles list supplied by the caller.
func fidelityRequest(t *testing.T, ctx context.Context, addr string, in emulation.Initiator) *http.Request {
	_, port, _ := net.SplitHostPort(addr)
	base := "https://localhost:" + port
	var req *http.Request
	var err error
	switch in {
	case emulation.Navigate:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/fingerprint", nil)
	case emulation.XHR:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/echo?x=1", nil)
		if err == nil {
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
			req.Header.Set("Referer", base+"/")
		}
	case emulation.Fetch:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/echo", strings.NewReader("{}"))
		if err == nil {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", base)
			req.Header.Set("Referer", base+"/")
		}
	case emulation.Form:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/echo", strings.NewReader("a=b"))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
			req.Header.Set("Referer", base+"/")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", "a=b")
	return req
}

// expectedNames are the header names the profile says go on the wire for
// req, in order (a prefix), plus the request's extra headers (any order).
func expectedNames(p *emulation.Profile, in emulation.Initiator, req *http.Request, h2 bool) (ordered []string, extra []string) {
	if h2 {
		ordered = append(ordered, p.H2.PseudoOrder...)
	}
	seen := map[string]bool{}
	for _, h := range emulation.ProfileList(p, in, h2, req.Header.Get("Cookie") != "") {
		l := strings.ToLower(h.Name)
		seen[l] = true
		supplied := req.Header.Get(h.Name) != "" || l == "host" || l == "content-length" && req.ContentLength > 0
		if h2 && l == "host" {
			continue
		}
		if emulation.IsCallerOnly(l) && !supplied {
			continue
		}
		ordered = append(ordered, h.Name)
	}
	for name := range req.Header {
		if !seen[strings.ToLower(name)] {
			extra = append(extra, name)
		}
	}
	if req.ContentLength > 0 && !seen["content-length"] {
		extra = append(extra, "Content-Length")
	}
	return ordered, extra
}

func TestFidelityAgainstFPServer(t *testing.T) {
	srv := startFPServer(t)
	profiles := testProfiles(t)
	type row struct{ profile, proto, initiator, ja4, ja4r, ja3, akamai, prio, order string }
	var rows []row
	mark := func(ok bool, applies bool) string {
		switch {
		case !applies:
			return "-"
		case ok:
			return "ok"
		}
		return "DIFF"
	}
	for _, p := range profiles {
		ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
		if err != nil {
			t.Fatal(err)
		}
		want := ch.Fingerprints()
		tr := New(Options{Profile: p, RootCAs: srv.roots})
		defer tr.CloseIdleConnections()
		for _, proto := range []string{"h2", "http/1.1"} {
			addr := srv.h2Addr
			if proto == "http/1.1" {
				addr = srv.h1Addr
			}
			for _, in := range emulation.Initiators() {
				name := fmt.Sprintf("%s/%s/%s", p.Name, proto, in)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				req := fidelityRequest(t, ctx, addr, in)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					cancel()
					t.Errorf("%s: %v", name, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				cancel()
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("%s: status %d, read error %v: %.300s", name, resp.StatusCode, err, body)
					continue
				}
				h2 := proto == "h2"
				if (resp.ProtoMajor == 2) != h2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != proto {
					t.Errorf("%s: response proto %s, TLS %v", name, resp.Proto, resp.TLS != nil)
				}
				var rep fpReport
				if err := json.Unmarshal(body, &rep); err != nil {
					t.Errorf("%s: decoding report: %v", name, err)
					continue
				}
				r := row{profile: p.Name, proto: proto, initiator: string(in)}
				resumed, err := p.ResumedFingerprints()
				if err != nil {
					t.Fatal(err)
				}
				// Later connections of the profile resume the session and
				// add pre_shared_key: either form is the browser's.
				alt := map[string]string{"ja4": resumed.JA4, "ja4_r": resumed.JA4R, "ja3": resumed.JA3}
				check := func(field, got, want string, applies bool) string {
					ok := got == want || alt[field] != "" && got == alt[field]
					if applies && !ok {
						t.Errorf("%s: %s = %q, want %q", name, field, got, want)
					}
					return mark(ok, applies)
				}
				r.ja4 = check("ja4", rep.Fingerprints.JA4, want.JA4, true)
				r.ja4r = check("ja4_r", rep.Fingerprints.JA4R, want.JA4R, true)
				r.ja3 = check("ja3", rep.Fingerprints.JA3, want.JA3, !p.ShuffleExtensions)
				if h2 {
					ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
					r.akamai = check("akamai", rep.Fingerprints.Akamai, ak.Text, true)
					wantPrio := "none"
					if pr, ok := emulation.HeadersPriorityFor(p, in); ok {
						wantPrio = fmt.Sprintf("%v:%d:%d", pr.Exclusive, pr.DependsOn, pr.Weight)
					}
					gotPrio := "none"
					if rep.HTTP.H2 != nil && rep.HTTP.H2.HeadersPriority != nil {
						hp := rep.HTTP.H2.HeadersPriority
						gotPrio = fmt.Sprintf("%v:%d:%d", hp.Exclusive, hp.DependsOn, hp.Weight)
					}
					r.prio = check("headers priority", gotPrio, wantPrio, true)
				} else {
					r.akamai, r.prio = "-", "-"
				}
				// Identity headers carry the profile's values
				// (Sec-Fetch-Site is recomputed from the Referer).
				for _, ph := range ProfileHeaders(p, in, h2) {
					if !identityHeader(ph.Name) || strings.EqualFold(ph.Name, "sec-fetch-site") {
						continue
					}
					got := ""
					for _, h := range rep.HTTP.Headers {
						if strings.EqualFold(h[0], ph.Name) {
							got = h[1]
							break
						}
					}
					if got != ph.Value {
						t.Errorf("%s: %s = %q, want the profile's %q", name, ph.Name, got, ph.Value)
					}
				}
				ordered, extra := expectedNames(p, in, req, h2)
				var got []string
				for _, h := range rep.HTTP.Headers {
					got = append(got, h[0])
				}
				ok := len(got) == len(ordered)+len(extra)
				if ok {
					ok = strings.Join(got[:len(ordered)], ",") == strings.Join(ordered, ",")
					rest := append([]string(nil), got[len(ordered):]...)
					for i := range rest {
						rest[i] = strings.ToLower(rest[i])
					}
					ex := append([]string(nil), extra...)
					for i := range ex {
						ex[i] = strings.ToLower(ex[i])
					}
					sort.Strings(rest)
					sort.Strings(ex)
					ok = ok && strings.Join(rest, ",") == strings.Join(ex, ",")
				}
				if !ok {
					t.Errorf("%s: header order\n got  %v\n want %v then %v", name, got, ordered, extra)
				}
				r.order = mark(ok, true)
				if (in == emulation.Fetch || in == emulation.Form) && rep.BodyLength != req.ContentLength {
					t.Errorf("%s: server saw a %d-byte body, sent %d", name, rep.BodyLength, req.ContentLength)
				}
				rows = append(rows, r)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %-9s %-9s %-4s %-5s %-4s %-6s %-5s %-5s\n", "profile", "proto", "initiator", "ja4", "ja4_r", "ja3", "akamai", "prio", "order")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-22s %-9s %-9s %-4s %-5s %-4s %-6s %-5s %-5s\n", r.profile, r.proto, r.initiator, r.ja4, r.ja4r, r.ja3, r.akamai, r.prio, r.order)
	}
	t.Logf("fidelity against fpserver:\n%s", b.String())
}

// identityHeader reports whether a header's value identifies the browser
// and so must be the profile's exactly.
func identityHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "user-agent", "accept-encoding", "priority", "upgrade-insecure-requests", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform":
		return true
	}
	return strings.HasPrefix(n, "sec-fetch-")
}
