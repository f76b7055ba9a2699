package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// contractFields are the JSON names DESIGN §4.1 fixes.
var contractFields = []string{"source", "sni", "alpn", "tls_version", "ciphers", "extensions", "ja3", "ja3_hash",
	"ja3n", "ja3n_hash", "ja4", "ja4_r", "ja4_o", "ja4_ro", "peetprint", "peetprint_hash"}

// runMain runs the program in-process.
func runMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// lines decodes JSON lines.
func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// goHello captures the ClientHello records a crypto/tls client sends.
func goHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var buf []byte
		tmp := make([]byte, 4096)
		for {
			n, rerr := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if need, perr := fingerprint.ClientHelloLength(buf); perr != nil || need <= len(buf) || rerr != nil {
				if perr == nil && need <= len(buf) {
					got <- buf[:need]
				}
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tls.Client(conn, cfg).HandshakeContext(ctx)
	}()
	b, ok := <-got
	if !ok {
		t.Fatal("no ClientHello captured")
	}
	return b
}

const testdata = "../../inspect/testdata/"

func TestUsage(t *testing.T) {
	// Without a command fpserver serves; its flags are documented with
	// their environment variables.
	code, _, stderr := runMain(t, "", "serve", "-h")
	if code != 0 || !strings.Contains(stderr, "-https-h1") || !strings.Contains(stderr, "FPSERVER_HTTPS_H1") {
		t.Errorf("serve -h: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runMain(t, "", "-h")
	if !strings.Contains(stdout, "-store-full-ip") || !strings.Contains(stdout, "FPSERVER_RETENTION") {
		t.Errorf("-h does not document the serve flags and their environment variables: %q", stdout)
	}
	if code != 0 || !strings.Contains(stdout, "inspect") {
		t.Errorf("-h: exit %d, stdout %q", code, stdout)
	}
	code, _, stderr = runMain(t, "", "serve-nothing")
	if code != 2 || !strings.Contains(stderr, `unknown command "serve-nothing"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runMain(t, "", "inspect", "-h")
	if code != 0 || !strings.Contains(stderr, "-pretty") || !strings.Contains(stderr, "pcapng") {
		t.Errorf("inspect -h: exit %d, stderr %q", code, stderr)
	}
	code, _, _ = runMain(t, "", "inspect", "-nope")
	if code != 2 {
		t.Errorf("inspect -nope: exit %d", code)
	}
}

func TestInspectStdin(t *testing.T) {
	hello := goHello(t, &tls.Config{ServerName: "stdin.example", MaxVersion: tls.VersionTLS12})
	text := "# pasted from Wireshark\n" + hex.EncodeToString(hello) + "\n"
	for _, args := range [][]string{{"inspect"}, {"inspect", "-"}} {
		code, stdout, stderr := runMain(t, text, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d stderr %q", args, code, stderr)
		}
		recs := lines(t, stdout)
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		r := recs[0]
		for _, f := range contractFields {
			if _, ok := r[f]; !ok {
				t.Errorf("field %s missing", f)
			}
		}
		if r["source"] != "-" || r["sni"] != "stdin.example" || r["tls_version"] != "0x0303" {
			t.Errorf("record %v", r)
		}
		// No ALPN extension: an empty list, not null.
		if a, ok := r["alpn"].([]any); !ok || len(a) != 0 {
			t.Errorf("alpn = %#v, want []", r["alpn"])
		}
		if !strings.Contains(stdout, `"alpn":[]`) {
			t.Errorf("alpn not written as []: %s", stdout)
		}
	}
}

func TestInspectFiles(t *testing.T) {
	dir := t.TempDir()
	hello := goHello(t, &tls.Config{ServerName: "file.example", NextProtos: []string{"h2"}})
	good := filepath.Join(dir, "good.bin")
	bad := filepath.Join(dir, "bad.bin")
	junk := filepath.Join(dir, "junk.txt")
	missing := filepath.Join(dir, "missing.pcap")
	os.WriteFile(good, hello, 0o644)
	os.WriteFile(bad, append(append([]byte(nil), hello...), 0x99, 0x00, 0x00), 0o644)
	os.WriteFile(junk, []byte("hello, world\n"), 0o644)

	code, stdout, stderr := runMain(t, "", "inspect", good, junk, missing, bad, testdata+"curl.pcap")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	recs := lines(t, stdout)
	if len(recs) != 3 {
		t.Fatalf("%d records:\n%s", len(recs), stdout)
	}
	if recs[0]["source"] != good || recs[1]["source"] != bad || !strings.HasPrefix(recs[2]["source"].(string), testdata+"curl.pcap#127.0.0.1:") {
		t.Errorf("sources %v, %v, %v", recs[0]["source"], recs[1]["source"], recs[2]["source"])
	}
	for _, want := range []string{
		junk + ": offset 0: unrecognised input",
		missing + ": no such file or directory",
		bad + ": offset " + strconv.Itoa(len(hello)) + ": unexpected byte 0x99",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// Nothing found anywhere: exit 1, with the reasons.
	code, stdout, stderr = runMain(t, "", "inspect", junk, missing)
	if code != 1 || stdout != "" || !strings.Contains(stderr, junk+": offset 0:") {
		t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	// A readable input without hellos says so.
	empty := filepath.Join(dir, "empty.hex")
	os.WriteFile(empty, []byte("# nothing here\n"), 0o644)
	code, _, stderr = runMain(t, "", "inspect", empty)
	if code != 1 || !strings.Contains(stderr, empty+": no ClientHello found") {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
}

func TestInspectPrettyVerbose(t *testing.T) {
	code, stdout, stderr := runMain(t, "", "inspect", "-pretty", "-v", testdata+"chromium.pcapng")
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	n := 0
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 || !strings.Contains(stdout, "\n  \"sni\": \"fp.test\"") {
		t.Errorf("%d objects, output %.200s", n, stdout)
	}
	if !strings.Contains(stderr, "pcapng, 41 packets") || !strings.Contains(stderr, "1 QUIC flows") || !strings.Contains(stderr, "3 ClientHellos") {
		t.Errorf("-v output %q", stderr)
	}
}

// failWriter fails every write, like a closed pipe.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestInspectOutputError(t *testing.T) {
	var errb bytes.Buffer
	code := run([]string{"inspect", testdata + "curl.pcap", testdata + "chromium.pcapng"}, strings.NewReader(""), failWriter{}, &errb)
	if code != 1 || !strings.Contains(errb.String(), "writing output") || strings.Count(errb.String(), "writing output") != 1 {
		t.Errorf("exit %d stderr %q", code, errb.String())
	}
}

// TestBinary builds the program and runs it once as a separate process.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fpserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "inspect", testdata+"curl.pcap", "-")
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	recs := lines(t, out.String())
	if len(recs) != 1 || recs[0]["sni"] != "fp.test" || recs[0]["ja3_hash"] != "0149f47eabf9a20d0893e2a44e5a6323" {
		t.Errorf("records %v", recs)
	}
	if !strings.Contains(errb.String(), "-: empty input") {
		t.Errorf("stderr %q", errb.String())
	}
	cmd = exec.Command(bin, "no-such-command")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("unknown command: %v", err)
	}
}

// TestInspectJA4OPythonFlag checks -ja4o-python on a hello whose only
// extension is SNI, and the anomalies field of a hello with an empty
// ec_point_formats list.
func TestInspectJA4OPythonFlag(t *testing.T) {
	ext := func(typ uint16, data []byte) []byte {
		return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	}
	hello := func(exts ...[]byte) string {
		body := append([]byte{3, 3}, make([]byte, 32)...)
		body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0)
		var e []byte
		for _, x := range exts {
			e = append(e, x...)
		}
		body = append(body, byte(len(e)>>8), byte(len(e)))
		body = append(body, e...)
		msg := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
		return hex.EncodeToString(append([]byte{0x16, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)) + "\n"
	}
	sni := ext(0, []byte{0, 4, 0, 0, 1, 'a'})
	_, rust, _ := runMain(t, hello(sni), "inspect")
	code, py, stderr := runMain(t, hello(sni), "inspect", "-ja4o-python")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, p := lines(t, rust)[0], lines(t, py)[0]
	if !strings.HasSuffix(p["ja4_o"].(string), "_000000000000") || strings.HasSuffix(r["ja4_o"].(string), "_000000000000") ||
		r["ja4"] != p["ja4"] {
		t.Errorf("ja4_o default %v, -ja4o-python %v", r["ja4_o"], p["ja4_o"])
	}
	_, out, _ := runMain(t, hello(sni, ext(11, []byte{0})), "inspect")
	an, ok := lines(t, out)[0]["anomalies"].([]any)
	if !ok || len(an) != 1 || an[0].(map[string]any)["kind"] != "empty" || an[0].(map[string]any)["extension"] != float64(11) {
		t.Errorf("anomalies %v", lines(t, out)[0]["anomalies"])
	}
}
