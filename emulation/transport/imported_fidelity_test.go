package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/importer"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// sourceJA4R computes JA4_r and JA3N from a source record's own lists
// (not from the assembled hello), so a conversion bug cannot hide itself.
func sourceJA4R(l importer.SourceLists, legacy uint16) (ja4r, ja3n string) {
	grease := func(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
	strip := func(vs []uint16) []uint16 {
		var out []uint16
		for _, v := range vs {
			if !grease(v) {
				out = append(out, v)
			}
		}
		return out
	}
	hex4 := func(vs []uint16) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = fmt.Sprintf("%04x", v)
		}
		return strings.Join(s, ",")
	}
	dec := func(vs []uint16) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = strconv.Itoa(int(v))
		}
		return strings.Join(s, "-")
	}
	ciphers := strip(l.Ciphers)
	exts := strip(l.Extensions)
	ver := "12"
	if slices.Contains(l.Versions, 0x0304) {
		ver = "13"
	}
	sni := "i"
	if slices.Contains(exts, 0) {
		sni = "d"
	}
	alpn := "00"
	if len(l.ALPN) > 0 && l.ALPN[0] != "" {
		a := l.ALPN[0]
		alpn = string(a[0]) + string(a[len(a)-1])
	}
	sc := slices.Clone(ciphers)
	slices.Sort(sc)
	var se []uint16
	for _, e := range exts {
		if e != 0 && e != 16 {
			se = append(se, e)
		}
	}
	slices.Sort(se)
	ja4r = fmt.Sprintf("t%s%s%02d%02d%s_%s_%s", ver, sni, min(len(ciphers), 99), min(len(exts), 99), alpn, hex4(sc), hex4(se))
	if sig := strip(l.SigAlgs); len(sig) > 0 {
		ja4r += "_" + hex4(sig)
	}
	all := slices.Clone(exts)
	slices.Sort(all)
	pf := make([]uint16, len(l.PointFormat))
	for i, v := range l.PointFormat {
		pf[i] = uint16(v)
	}
	ja3n = fmt.Sprintf("%d,%s,%s,%s,%s", legacy, dec(ciphers), dec(all), dec(strip(l.Groups)), dec(pf))
	return ja4r, ja3n
}

// TestImportedFidelity runs every profile the importers make from the
// published sources through the emulating transport to one in-process
// fpserver, over HTTP/2 and HTTP/1.1, navigate and fetch, and compares what
// fpserver records with values computed from the source records.
func TestImportedFidelity(t *testing.T) {
	type conv struct {
		p     *emulation.Profile
		lists importer.SourceLists
	}
	var all []conv
	for _, src := range []struct{ from, path string }{
		{"rama", "../../third_party/profile-sources/rama/embed_profiles.json"},
		{"curl-impersonate", "../../third_party/profile-sources/curl-impersonate/signatures"},
	} {
		if _, err := os.Stat(src.path); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("profile sources (third_party/profile-sources): %v", err)
			}
			t.Skipf("profile sources: %v", err)
		}
		res, err := importer.Convert(src.from, src.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Profiles {
			all = append(all, conv{p, res.Lists[p.Name]})
		}
	}
	if len(all) < 60 {
		t.Errorf("only %d profiles converted from both sources", len(all))
	}
	srv := startFPServer(t)
	type row struct{ profile, proto, in, ja4, ja4r, ja3n, akamai, order, err string }
	var (
		mu   sync.Mutex
		rows []row
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
	)
	for _, c := range all {
		ch, _ := fingerprint.ParseClientHello(c.p.TLS.ClientHello)
		wantJA4R, wantJA3N := sourceJA4R(c.lists, ch.LegacyVersion)
		parts := strings.SplitN(wantJA4R, "_", 4)
		sum := func(s string) string { h := sha256hex(s); return h[:12] }
		wantJA4 := parts[0] + "_" + sum(parts[1]) + "_" + sum(strings.Join(parts[2:], "_"))
		if len(parts) == 3 {
			wantJA4 = parts[0] + "_" + sum(parts[1]) + "_" + sum(parts[2])
		}
		for _, proto := range []string{"h2", "http/1.1"} {
			for _, in := range []emulation.Initiator{emulation.Navigate, emulation.Fetch} {
				wg.Add(1)
				go func(p *emulation.Profile, proto string, in emulation.Initiator) {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					r := row{profile: p.Name, proto: proto, in: string(in)}
					defer func() {
						mu.Lock()
						rows = append(rows, r)
						mu.Unlock()
					}()
					addr := srv.h2Addr
					if proto == "http/1.1" {
						addr = srv.h1Addr
					}
					tr := New(Options{Profile: p, RootCAs: srv.roots})
					defer tr.CloseIdleConnections()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					req := fidelityRequest(t, ctx, addr, in)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						r.err = err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var rep fpReport
					if resp.StatusCode != 200 || json.Unmarshal(body, &rep) != nil {
						r.err = fmt.Sprintf("status %d", resp.StatusCode)
						return
					}
					var extra struct {
						Fingerprints struct {
							JA3N string `json:"ja3n"`
						} `json:"fingerprints"`
					}
					json.Unmarshal(body, &extra)
					mark := func(ok bool) string {
						if ok {
							return "ok"
						}
						return "DIFF"
					}
					r.ja4 = mark(rep.Fingerprints.JA4 == wantJA4)
					r.ja4r = mark(rep.Fingerprints.JA4R == wantJA4R)
					r.ja3n = mark(extra.Fingerprints.JA3N == wantJA3N)
					if r.ja4r != "ok" {
						r.err = fmt.Sprintf("ja4_r %s want %s", rep.Fingerprints.JA4R, wantJA4R)
					}
					if proto == "h2" {
						ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
						r.akamai = mark(rep.Fingerprints.Akamai == ak.Text)
					} else {
						r.akamai = "-"
					}
					ordered, _ := expectedNames(p, in, req, proto == "h2")
					var got []string
					for _, h := range rep.HTTP.Headers {
						got = append(got, h[0])
					}
					r.order = mark(len(got) >= len(ordered) && strings.Join(got[:len(ordered)], ",") == strings.Join(ordered, ","))
					if proto == "http/1.1" && p.H1 == nil {
						// No HTTP/1.1 data in the source (curl-impersonate
						// records one h2 navigation): the transport falls
						// back to the h2 lists; nothing to compare with.
						r.order = "-"
					}
					if r.order == "DIFF" {
						r.err += fmt.Sprintf(" order got %v want %v", got, ordered)
					}
					if r.ja4 != "ok" || r.ja3n != "ok" || r.akamai == "DIFF" {
						r.err += fmt.Sprintf(" ja4 %s want %s ja3n %s want %s akamai %s", rep.Fingerprints.JA4, wantJA4, extra.Fingerprints.JA3N, wantJA3N, rep.Fingerprints.Akamai)
					}
				}(c.p, proto, in)
			}
		}
	}
	wg.Wait()
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		return a.profile+a.proto+a.in < b.profile+b.proto+b.in
	})
	var b strings.Builder
	bad := map[string]string{}
	fmt.Fprintf(&b, "%-36s %-9s %-9s %-4s %-5s %-4s %-6s %-5s\n", "profile", "proto", "initiator", "ja4", "ja4_r", "ja3n", "akamai", "order")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-36s %-9s %-9s %-4s %-5s %-4s %-6s %-5s %s\n", r.profile, r.proto, r.in, r.ja4, r.ja4r, r.ja3n, r.akamai, r.order, r.err)
		if r.err != "" || strings.Contains(r.ja4+r.ja4r+r.ja3n+r.akamai+r.order, "DIFF") {
			bad[r.profile] = fmt.Sprintf("%s/%s: %s", r.proto, r.in, r.err)
		}
	}
	t.Logf("fidelity of imported profiles (%d):\n%s", len(all), b.String())
	for name, why := range bad {
		t.Errorf("%s not reproduced: %s", name, why)
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
