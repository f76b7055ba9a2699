package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// leafSPKIHash is the base64 SHA-256 of the server certificate's
// SubjectPublicKeyInfo, as --ignore-certificate-errors-spki-list wants it.
func leafSPKIHash(t *testing.T, certPEM []byte) string {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatal("no PEM block in the server certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// startTshark captures UDP port on the loopback interface into a pcapng
// file; stop ends the capture and returns the file.
func startTshark(t *testing.T, tshark string, port int) (stop func() string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "quic.pcapng")
	cmd := exec.Command(tshark, "-i", "lo", "-f", fmt.Sprintf("udp port %d", port), "-w", file)
	exited, out := startProcess(t, cmd)
	waitFor(t, 20*time.Second, "tshark to capture", func() (bool, error) {
		select {
		case <-exited:
			t.Fatalf("tshark exited: %s", out.String())
		default:
		}
		return strings.Contains(out.String(), "Capturing on"), nil
	})
	return func() string {
		time.Sleep(500 * time.Millisecond) // let the last packets reach the file
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("tshark did not stop: %s", out.String())
		}
		return file
	}
}

// tsharkHello is one QUIC ClientHello as tshark dissects it (it decrypts
// client Initial packets by itself).
type tsharkHello struct {
	random, ja3, sni, alpn         string
	ciphers, exts, sigalgs, tparam []uint64
	versions                       []uint64
}

// tsharkHellos reads every ClientHello carried in QUIC from file.
func tsharkHellos(t *testing.T, tshark, file string) []tsharkHello {
	t.Helper()
	fields := []string{"tls.handshake.random", "tls.handshake.ja3", "tls.handshake.extensions_server_name",
		"tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
		"tls.handshake.sig_hash_alg", "tls.quic.parameter.type", "tls.handshake.extensions.supported_version"}
	args := []string{"-r", file, "-Y", "quic && tls.handshake.type == 1", "-T", "fields", "-E", "separator=/t", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	var hellos []tsharkHello
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != len(fields) {
			continue
		}
		hellos = append(hellos, tsharkHello{
			random: strings.ReplaceAll(f[0], ":", ""), ja3: f[1], sni: f[2], alpn: f[3],
			ciphers: numList(t, f[4]), exts: numList(t, f[5]), sigalgs: numList(t, f[6]), tparam: numList(t, f[7]),
			versions: numList(t, f[8]),
		})
	}
	return hellos
}

// numList parses tshark's comma-joined numbers (decimal or 0x hex).
func numList(t *testing.T, s string) []uint64 {
	var out []uint64
	for _, v := range strings.Split(s, ",") {
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("tshark value %q: %v", v, err)
		}
		out = append(out, n)
	}
	return out
}

func isGREASE16(v uint64) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ja4FromTshark computes JA4 (FoxIO's definition, QUIC transport) from
// tshark's dissection, independently of package fingerprint.
func ja4FromTshark(h tsharkHello) string {
	var ciphers, exts []string
	for _, c := range h.ciphers {
		if !isGREASE16(c) {
			ciphers = append(ciphers, fmt.Sprintf("%04x", c))
		}
	}
	nExt := 0
	for _, e := range h.exts {
		if isGREASE16(e) {
			continue
		}
		nExt++
		if e != 0x0000 && e != 0x0010 {
			exts = append(exts, fmt.Sprintf("%04x", e))
		}
	}
	version := "00"
	best := uint64(0)
	for _, v := range h.versions {
		if !isGREASE16(v) && v > best {
			best = v
		}
	}
	switch best {
	case 0x0304:
		version = "13"
	case 0x0303:
		version = "12"
	}
	sni := "i"
	if h.sni != "" {
		sni = "d"
	}
	alpn := "00"
	if first, _, _ := strings.Cut(h.alpn, ","); first != "" {
		alpn = first[:1] + first[len(first)-1:]
	}
	var sigs []string
	for _, s := range h.sigalgs {
		if !isGREASE16(s) {
			sigs = append(sigs, fmt.Sprintf("%04x", s))
		}
	}
	sort.Strings(ciphers)
	sort.Strings(exts)
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])[:12]
	}
	c := strings.Join(exts, ",")
	if len(sigs) > 0 {
		c += "_" + strings.Join(sigs, ",")
	}
	return fmt.Sprintf("q%s%s%02d%02d%s_%s_%s", version, sni, min(len(ciphers), 99), min(nExt, 99), alpn,
		hash(strings.Join(ciphers, ",")), hash(c))
}

// TestE2EChromiumHTTP3 loads /api/fingerprint in a headed Chromium forced
// onto QUIC for fpserver's origin: fpserver records Chromium's QUIC
// ClientHello (a post-quantum hello that spans two Initial packets), its
// transport parameters, HTTP/3 SETTINGS and header order; the JA4 equals
// the one computed from tshark's own dissection of the same Initial
// packets, and the cipher, extension and transport parameter lists equal
// tshark's.
func TestE2EChromiumHTTP3(t *testing.T) {
	skipBrowserShort(t)
	chromium := testenv.RequireTool(t, chromiumName)
	tshark := testenv.RequireTool(t, "tshark")
	display := testenv.StartXvfb(t)
	s := startServer(t)
	port := s.port(t, lnHTTP3)
	origin := fmt.Sprintf("127.0.0.1:%d", port)
	stop := startTshark(t, tshark, port)

	browserCtx := startChromium(t, chromium, display,
		chromedp.Flag("origin-to-force-quic-on", origin),
		chromedp.Flag("ignore-certificate-errors-spki-list", leafSPKIHash(t, s.certPEM)),
		chromedp.Flag("enable-quic", true))
	if err := chromedp.Do(browserCtx, chromedp.Navigate("https://"+origin+"/api/fingerprint")); err != nil {
		t.Fatalf("loading /api/fingerprint: %v", err)
	}
	body, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	live, err := decodeReport([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	file := stop()
	if live.HTTP.Version != "3" || !live.Complete || live.QUIC == nil || live.HTTP.H3 == nil || live.TLS == nil {
		t.Fatalf("not an HTTP/3 capture: %s", body)
	}
	ja4 := live.Fingerprints["ja4"]
	t.Logf("chromium over QUIC: JA4 %s, quic_tp %s (%s)", ja4, live.QUIC.QUICTP, live.QUIC.QUICTPHash)
	h3 := live.HTTP.H3
	t.Logf("chromium HTTP/3 settings %+v, uni streams %v, priority %q, header order %s", h3.Settings, h3.UniStreams, h3.Priority, live.HTTP.HeaderOrder)
	if !strings.HasPrefix(ja4, "q13d") && !strings.HasPrefix(ja4, "q13i") {
		t.Errorf("JA4 %s", ja4)
	}
	if ua, _ := lowerHeader(live, "user-agent"); !strings.Contains(ua, "Chrome/") {
		t.Errorf("user-agent %q", ua)
	}
	if got := strings.Join(h3.PseudoOrder, ","); got != ":method,:authority,:scheme,:path" {
		t.Errorf("pseudo-header order %s", got)
	}
	var ids []uint64
	for _, st := range h3.Settings {
		ids = append(ids, st.ID)
	}
	if !h3.SettingsSeen || !slices.Contains(ids, 0x01) || !slices.Contains(ids, 0x06) {
		t.Errorf("settings %+v", h3.Settings)
	}
	// The QPACK streams may open after the request was served; the control
	// stream (its SETTINGS were waited for) comes first.
	if len(h3.UniStreams) == 0 || h3.UniStreams[0] != 0 {
		t.Errorf("uni streams %v", h3.UniStreams)
	}
	// Chromium's post-quantum key share makes the hello too long for one
	// Initial packet.
	if live.QUIC.InitialPackets < 2 || len(live.TLS.Raw) < 1200 {
		t.Errorf("hello of %d bytes in %d Initial packets", len(live.TLS.Raw), live.QUIC.InitialPackets)
	}
	if len(live.QUIC.TransportParameters) < 8 {
		t.Errorf("transport parameters %+v", live.QUIC.TransportParameters)
	}

	// The same hello as tshark sees it.
	var withRandom struct {
		TLS struct {
			Random string `json:"random"`
		} `json:"tls"`
	}
	if err := json.Unmarshal([]byte(body), &withRandom); err != nil {
		t.Fatal(err)
	}
	random := withRandom.TLS.Random
	hellos := tsharkHellos(t, tshark, file)
	var th *tsharkHello
	for i := range hellos {
		if hellos[i].random == random {
			th = &hellos[i]
		}
	}
	if th == nil {
		t.Fatalf("tshark found %d QUIC ClientHellos, none with random %s", len(hellos), random)
	}
	if want := ja4FromTshark(*th); ja4 != want {
		t.Errorf("JA4 %s, from tshark's dissection %s", ja4, want)
	}
	if live.Fingerprints["ja3_hash"] != th.ja3 {
		t.Errorf("JA3 hash %s, tshark's %s", live.Fingerprints["ja3_hash"], th.ja3)
	}
	var tp []uint64
	for _, p := range live.QUIC.TransportParameters {
		tp = append(tp, p.ID)
	}
	if !slices.Equal(tp, th.tparam) {
		t.Errorf("transport parameter ids %v, tshark's %v", tp, th.tparam)
	}
	stored := s.waitCapture(t, live.CaptureID)
	checkStoredTLS(t, live, stored)
	if stored.HTTP.H3 == nil || stored.HTTP.HeaderOrder != live.HTTP.HeaderOrder || stored.QUIC == nil || stored.QUIC.QUICTPHash != live.QUIC.QUICTPHash {
		t.Errorf("stored capture differs: %+v", stored)
	}
}
