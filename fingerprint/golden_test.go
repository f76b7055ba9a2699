package fingerprint_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// -update regenerates the raw captures in testdata/golden from real clients
// on this machine. It never touches the *.expect.json files: expectations are
// written by hand (see testdata/golden/README.md) and only compared here.
var update = flag.Bool("update", false, "recapture testdata/golden/*.hello from real clients")

// golden is one expectation file. Empty fields are not compared: a client
// that permutes its extensions (Chromium) has no stable JA3, JA4_o or JA4_ro.
type golden struct {
	Client        string   `json:"client"`
	Shuffles      bool     `json:"shuffles_extensions"`
	SNI           string   `json:"sni"`
	ALPN          []string `json:"alpn"`
	MaxVersion    string   `json:"max_version"`
	JA3           string   `json:"ja3"`
	JA3Hash       string   `json:"ja3_hash"`
	JA3N          string   `json:"ja3n"`
	JA3NHash      string   `json:"ja3n_hash"`
	JA4           string   `json:"ja4"`
	JA4R          string   `json:"ja4_r"`
	JA4O          string   `json:"ja4_o"`
	JA4RO         string   `json:"ja4_ro"`
	PeetPrint     string   `json:"peetprint"`
	PeetPrintHash string   `json:"peetprint_hash"`
}

func TestGolden(t *testing.T) {
	if *update {
		recaptureGolden(t)
	}
	expects, err := filepath.Glob("testdata/golden/*.expect.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(expects) < 6 {
		t.Fatalf("found %d golden expectations, want at least 6", len(expects))
	}
	for _, ef := range expects {
		name := strings.TrimSuffix(filepath.Base(ef), ".expect.json")
		t.Run(name, func(t *testing.T) {
			var want golden
			b, err := os.ReadFile(ef)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("%s: %v", ef, err)
			}
			raw, err := os.ReadFile(filepath.Join("testdata/golden", name+".hello"))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := fingerprint.ParseClientHello(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			fp := ch.Fingerprints()
			check := func(field, got, want string) {
				t.Helper()
				if want != "" && got != want {
					t.Errorf("%s:\n got  %s\n want %s", field, got, want)
				}
			}
			check("sni", ch.ServerName(), want.SNI)
			check("alpn", strings.Join(ch.ALPN(), ","), strings.Join(want.ALPN, ","))
			check("max_version", fmt.Sprintf("0x%04x", ch.MaxVersion()), want.MaxVersion)
			check("ja3", fp.JA3, want.JA3)
			check("ja3_hash", fp.JA3Hash, want.JA3Hash)
			check("ja3n", fp.JA3N, want.JA3N)
			check("ja3n_hash", fp.JA3NHash, want.JA3NHash)
			check("ja4", fp.JA4, want.JA4)
			check("ja4_r", fp.JA4R, want.JA4R)
			check("ja4_o", fp.JA4O, want.JA4O)
			check("ja4_ro", fp.JA4RO, want.JA4RO)
			check("peetprint", fp.PeetPrint, want.PeetPrint)
			check("peetprint_hash", fp.PeetPrintHash, want.PeetPrintHash)
			if want.Shuffles {
				if want.JA3 != "" || want.JA4O != "" || want.JA4RO != "" {
					t.Errorf("%s: a shuffling client must not pin order-dependent fields", ef)
				}
			} else if want.JA3 == "" || want.JA4O == "" {
				t.Errorf("%s: a client with a stable extension order must pin ja3 and ja4_o", ef)
			}
			if want.JA4 == "" || want.JA3N == "" || want.PeetPrint == "" {
				t.Errorf("%s: ja4, ja3n and peetprint must always be pinned", ef)
			}
		})
	}
}

// goldenClient is one real client that -update runs against a capturing
// listener. run must make the client connect to addr (host:port, host is
// "localhost" so SNI is sent) and may return once the hello was captured.
type goldenClient struct {
	name string
	run  func(ctx context.Context, t *testing.T, addr string) error
}

func goldenClients() []goldenClient {
	cmd := func(argv ...string) func(ctx context.Context, t *testing.T, addr string) error {
		return func(ctx context.Context, t *testing.T, addr string) error {
			args := make([]string, len(argv))
			for i, a := range argv {
				args[i] = strings.ReplaceAll(strings.ReplaceAll(a, "ADDR", addr), "TMP", t.TempDir())
			}
			return runGroup(ctx, args...)
		}
	}
	browser := []string{"--no-sandbox", "--ignore-certificate-errors", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=TMP"}
	return []goldenClient{
		{"curl", cmd("curl", "-sk", "--max-time", "5", "https://ADDR/")},
		{"curl_tls12", cmd("curl", "-sk", "--max-time", "5", "--tlsv1.2", "--tls-max", "1.2", "https://ADDR/")},
		{"chromium", cmd(append(append([]string{"xvfb-run", "-a", "chromium"}, browser...), "https://ADDR/")...)},
		{"firefox_esr", cmd("xvfb-run", "-a", "firefox-esr", "--no-remote", "--profile", "TMP", "https://ADDR/")},
		{"go_crypto_tls", func(ctx context.Context, t *testing.T, addr string) error {
			d := tls.Dialer{Config: &tls.Config{ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}}}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return nil // the capturing server aborts the handshake
		}},
		{"utls_chrome_auto", cmd("go", "run", "../emulation/transport/internal/parrothello", "-parrot", "chrome_auto", "ADDR")},
		{"utls_firefox_auto", cmd("go", "run", "../emulation/transport/internal/parrothello", "-parrot", "firefox_auto", "ADDR")},
		{"utls_safari_auto", cmd("go", "run", "../emulation/transport/internal/parrothello", "-parrot", "safari_auto", "ADDR")},
	}
}

// runGroup runs argv in its own process group and kills the whole group when
// ctx ends (browsers under xvfb-run leave children behind otherwise).
func runGroup(ctx context.Context, argv ...string) error {
	c := exec.Command(argv[0], argv[1:]...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		return nil
	}
}

func recaptureGolden(t *testing.T) {
	for _, gc := range goldenClients() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		got := make(chan []byte, 1)
		go func() {
			defer close(got)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			b, err := readHelloRecords(c)
			if err != nil {
				t.Logf("%s: %v", gc.name, err)
				return
			}
			got <- b
		}()
		runErr := make(chan error, 1)
		go func() { runErr <- gc.run(ctx, t, fmt.Sprintf("localhost:%d", port)) }()
		var hello []byte
		select {
		case hello = <-got:
		case <-ctx.Done():
		}
		cancel()
		ln.Close()
		if err := <-runErr; err != nil && hello == nil {
			t.Fatalf("%s: client failed: %v", gc.name, err)
		}
		if hello == nil {
			t.Fatalf("%s: no ClientHello captured", gc.name)
		}
		out := filepath.Join("testdata/golden", gc.name+".hello")
		if err := os.WriteFile(out, hello, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("captured %s: %d bytes", out, len(hello))
	}
}

// readHelloRecords reads TLS handshake records from r until they hold one
// complete handshake message, and returns the records as sent. It is
// deliberately independent of the parser under test.
func readHelloRecords(r io.Reader) ([]byte, error) {
	var raw, msg []byte
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, fmt.Errorf("record header: %w", err)
		}
		if hdr[0] != 0x16 {
			return nil, errors.New("not a handshake record")
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("record body: %w", err)
		}
		raw = append(append(raw, hdr...), body...)
		msg = append(msg, body...)
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return raw, nil
		}
	}
}
