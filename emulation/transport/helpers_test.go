package transport

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// testEnv holds the fpserver binary, built once on first use by the tests
// that need it (fuzz workers and unrelated tests never build it).
type testEnv struct {
	once        sync.Once
	dir         string
	fpserverBin string
	buildErr    error
}

var env testEnv

func (e *testEnv) fpserver() (string, error) {
	e.once.Do(func() {
		dir, err := os.MkdirTemp("", "transport-test-")
		if err != nil {
			e.buildErr = err
			return
		}
		e.dir = dir
		bin := filepath.Join(dir, "fpserver")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/guanaco-fp/guanaco/cmd/fpserver")
		if out, err := cmd.CombinedOutput(); err != nil {
			e.buildErr = fmt.Errorf("building fpserver: %v\n%s", err, out)
			return
		}
		e.fpserverBin = bin
	})
	return e.fpserverBin, e.buildErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.dir != "" {
		os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

// fpServer is a running fpserver subprocess.
type fpServer struct {
	h2Addr, h1Addr string // -https (h2 + http/1.1) and -https-h1
	roots          *x509.CertPool
}

func startFPServer(tb testing.TB) *fpServer {
	tb.Helper()
	bin, err := env.fpserver()
	if err != nil {
		tb.Fatal(err)
	}
	dataDir := tb.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "-data", dataDir, "-https", "127.0.0.1:0",
		"-https-h1", "127.0.0.1:0", "-http", "", "-debug", "", "-log-format", "json", "-log-level", "info")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	s := &fpServer{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
			}
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for s.h2Addr == "" || s.h1Addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				tb.Fatal("fpserver exited before listening")
			}
			var l struct{ Msg, Listener, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				switch l.Listener {
				case "https":
					s.h2Addr = l.Addr
				case "https-h1":
					s.h1Addr = l.Addr
				}
			}
		case <-deadline:
			tb.Fatal("fpserver did not start listening")
		}
	}
	go func() { // keep draining the log
		for range lines {
		}
	}()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "tls", "cert.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pemBytes) {
		tb.Fatal("fpserver cert.pem holds no certificate")
	}
	return s
}

// testCA issues certificates for local test servers.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "transport test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf returns a server certificate for localhost and 127.0.0.1.
func (ca *testCA) leaf(tb testing.TB) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes the leaf's certificate and key as PEM files.
func writePEM(tb testing.TB, dir string, c tls.Certificate) (certFile, keyFile string) {
	tb.Helper()
	kder, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

func golden(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fingerprint", "testdata", "golden", name+".hello"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func hdrs(pairs ...string) []emulation.Header {
	var out []emulation.Header
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, emulation.Header{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}

const (
	chromeUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
)

// browserShape is what the test profiles are built from: a golden hello
// plus the browser's published HTTP/2 parameters (EMULATION-NOTES.md).
type browserShape struct {
	hello, ua    string
	settings     []emulation.Setting
	windowUpdate uint32
	pseudo       []string
	prio         map[emulation.Initiator]emulation.Priority
	h2           map[emulation.Initiator][]emulation.Header // with pseudo headers first
	h1           map[emulation.Initiator][]emulation.Header
}

func chromeShape() browserShape {
	ch := `"Chromium";v="156", "Not-A.Brand";v="24"`
	pseudo := func(m, path string) []string {
		return []string{":method", m, ":authority", "localhost", ":scheme", "https", ":path", path}
	}
	return browserShape{
		hello: "chromium", ua: chromeUA,
		settings:     []emulation.Setting{{ID: 1, Value: 65536}, {ID: 2, Value: 0}, {ID: 4, Value: 6291456}, {ID: 6, Value: 262144}},
		windowUpdate: 15663105,
		pseudo:       []string{":method", ":authority", ":scheme", ":path"},
		prio: map[emulation.Initiator]emulation.Priority{
			emulation.Navigate: {Exclusive: true, Weight: 256}, emulation.Form: {Exclusive: true, Weight: 256},
			emulation.Fetch: {Exclusive: true, Weight: 220}, emulation.XHR: {Exclusive: true, Weight: 220},
		},
		h2: map[emulation.Initiator][]emulation.Header{
			emulation.Navigate: hdrs(append(pseudo("GET", "/"), "sec-ch-ua", ch, "sec-ch-ua-mobile", "?0", "sec-ch-ua-platform", `"Linux"`,
				"upgrade-insecure-requests", "1", "user-agent", chromeUA, "accept", "text/html,application/xhtml+xml", "sec-fetch-site", "none",
				"sec-fetch-mode", "navigate", "sec-fetch-user", "?1", "sec-fetch-dest", "document", "accept-encoding", "gzip, deflate, br, zstd",
				"accept-language", "en-US,en;q=0.9", "cookie", "a=b", "priority", "u=0, i")...),
			emulation.Fetch: hdrs(append(pseudo("POST", "/probe/fetch"), "content-length", "2", "sec-ch-ua-platform", `"Linux"`, "user-agent", chromeUA,
				"sec-ch-ua", ch, "content-type", "text/plain;charset=UTF-8", "sec-ch-ua-mobile", "?0", "accept", "*/*", "origin", "https://localhost",
				"sec-fetch-site", "same-origin", "sec-fetch-mode", "cors", "sec-fetch-dest", "empty", "referer", "https://localhost/",
				"accept-encoding", "gzip, deflate, br, zstd", "accept-language", "en-US,en;q=0.9", "cookie", "a=b", "priority", "u=1, i")...),
			emulation.XHR: hdrs(append(pseudo("GET", "/probe/xhr"), "sec-ch-ua-platform", `"Linux"`, "x-requested-with", "XMLHttpRequest",
				"user-agent", chromeUA, "sec-ch-ua", ch, "sec-ch-ua-mobile", "?0", "accept", "*/*", "sec-fetch-site", "same-origin",
				"sec-fetch-mode", "cors", "sec-fetch-dest", "empty", "referer", "https://localhost/", "accept-encoding", "gzip, deflate, br, zstd",
				"accept-language", "en-US,en;q=0.9", "cookie", "a=b", "priority", "u=1, i")...),
			emulation.Form: hdrs(append(pseudo("POST", "/probe/form"), "content-length", "3", "cache-control", "max-age=0", "sec-ch-ua", ch,
				"sec-ch-ua-mobile", "?0", "sec-ch-ua-platform", `"Linux"`, "origin", "https://localhost", "content-type", "application/x-www-form-urlencoded",
				"upgrade-insecure-requests", "1", "user-agent", chromeUA, "accept", "text/html", "sec-fetch-site", "same-origin",
				"sec-fetch-mode", "navigate", "sec-fetch-user", "?1", "sec-fetch-dest", "document", "referer", "https://localhost/",
				"accept-encoding", "gzip, deflate, br, zstd", "accept-language", "en-US,en;q=0.9", "cookie", "a=b", "priority", "u=0, i")...),
		},
		h1: map[emulation.Initiator][]emulation.Header{
			emulation.Navigate: hdrs("Host", "localhost", "Connection", "keep-alive", "sec-ch-ua", ch, "sec-ch-ua-mobile", "?0",
				"sec-ch-ua-platform", `"Linux"`, "Upgrade-Insecure-Requests", "1", "User-Agent", chromeUA, "Accept", "text/html",
				"Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-User", "?1", "Sec-Fetch-Dest", "document",
				"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-US,en;q=0.9", "Cookie", "a=b"),
			emulation.Fetch: hdrs("Host", "localhost", "Connection", "keep-alive", "Content-Length", "2", "sec-ch-ua-platform", `"Linux"`,
				"User-Agent", chromeUA, "sec-ch-ua", ch, "Content-Type", "text/plain;charset=UTF-8", "sec-ch-ua-mobile", "?0", "Accept", "*/*",
				"Origin", "https://localhost", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty",
				"Referer", "https://localhost/", "Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-US,en;q=0.9", "Cookie", "a=b"),
		},
	}
}

func firefoxShape() browserShape {
	pseudo := func(m, path string) []string {
		return []string{":method", m, ":path", path, ":authority", "localhost", ":scheme", "https"}
	}
	return browserShape{
		hello: "firefox_esr", ua: firefoxUA,
		settings:     []emulation.Setting{{ID: 1, Value: 65536}, {ID: 2, Value: 0}, {ID: 4, Value: 131072}, {ID: 5, Value: 16384}},
		windowUpdate: 12517377,
		pseudo:       []string{":method", ":path", ":authority", ":scheme"},
		prio: map[emulation.Initiator]emulation.Priority{
			emulation.Navigate: {Weight: 42}, emulation.Fetch: {Weight: 22}, emulation.XHR: {Weight: 22}, emulation.Form: {Weight: 42},
		},
		h2: map[emulation.Initiator][]emulation.Header{
			emulation.Navigate: hdrs(append(pseudo("GET", "/"), "user-agent", firefoxUA, "accept", "text/html,application/xhtml+xml",
				"accept-language", "en-US,en;q=0.5", "accept-encoding", "gzip, deflate, br, zstd", "cookie", "a=b",
				"upgrade-insecure-requests", "1", "sec-fetch-dest", "document", "sec-fetch-mode", "navigate", "sec-fetch-site", "none",
				"sec-fetch-user", "?1", "priority", "u=0, i", "te", "trailers")...),
			emulation.Fetch: hdrs(append(pseudo("POST", "/probe/fetch"), "user-agent", firefoxUA, "accept", "*/*",
				"accept-language", "en-US,en;q=0.5", "accept-encoding", "gzip, deflate, br, zstd", "referer", "https://localhost/",
				"content-type", "text/plain;charset=UTF-8", "content-length", "2", "origin", "https://localhost", "cookie", "a=b",
				"sec-fetch-dest", "empty", "sec-fetch-mode", "cors", "sec-fetch-site", "same-origin", "priority", "u=4", "te", "trailers")...),
		},
		h1: map[emulation.Initiator][]emulation.Header{
			emulation.Navigate: hdrs("Host", "localhost", "User-Agent", firefoxUA, "Accept", "text/html", "Accept-Language", "en-US,en;q=0.5",
				"Accept-Encoding", "gzip, deflate, br, zstd", "Connection", "keep-alive", "Cookie", "a=b", "Upgrade-Insecure-Requests", "1",
				"Sec-Fetch-Dest", "document", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Sec-Fetch-User", "?1", "Priority", "u=0, i"),
		},
	}
}

// buildProfile turns a shape into a profile with emulation.Build, as the
// catalogue's profiles are made.
func buildProfile(tb testing.TB, s browserShape) *emulation.Profile {
	tb.Helper()
	hello := golden(tb, s.hello)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var caps []emulation.VisitCapture
	i := 0
	for _, in := range emulation.Initiators() {
		if hs, ok := s.h2[in]; ok {
			var prio *emulation.Priority
			if pr, ok := s.prio[in]; ok {
				prio = &pr
			}
			caps = append(caps, emulation.VisitCapture{ID: fmt.Sprintf("h2-%s", in), CreatedAt: t0.Add(time.Duration(i) * time.Second),
				Initiator: in, HTTPVersion: "2", ClientHello: hello, UserAgent: s.ua, Headers: hs,
				H2: &emulation.VisitH2{Settings: s.settings, WindowUpdate: s.windowUpdate, HeadersPriority: prio}})
			i++
		}
		if hs, ok := s.h1[in]; ok {
			caps = append(caps, emulation.VisitCapture{ID: fmt.Sprintf("h1-%s", in), CreatedAt: t0.Add(time.Duration(i) * time.Second),
				Initiator: in, HTTPVersion: "1.1", ClientHello: hello, UserAgent: s.ua, Headers: hs})
			i++
		}
	}
	p, err := emulation.Build("test-visit", "", caps, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// testProfiles are the profiles the fidelity test iterates over. Real
// browser profiles from the built-in catalogue belong here too once it
// exists.
// testProfiles is every built-in catalogue profile (captured from real
// browsers) plus two built from the golden hellos with the published
// Chrome and Firefox HTTP/2 shapes.
func testProfiles(tb testing.TB) []*emulation.Profile {
	cat, err := emulation.Catalogue()
	if err != nil {
		tb.Fatal(err)
	}
	if len(cat) < 2 {
		tb.Fatalf("the built-in catalogue has %d profiles, want at least chromium and firefox", len(cat))
	}
	golden := []*emulation.Profile{buildProfile(tb, chromeShape()), buildProfile(tb, firefoxShape())}
	for _, p := range golden {
		p.Name += "-golden"
	}
	return append(cat, golden...)
}
