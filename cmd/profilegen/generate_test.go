//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
)

func TestMissingInitiators(t *testing.T) {
	rows := []store.Capture{
		{Initiator: "navigate", HTTPVersion: "2"}, {Initiator: "fetch", HTTPVersion: "2"},
		{Initiator: "xhr", HTTPVersion: "1.1"}, {Initiator: "form", HTTPVersion: "2"},
		{Initiator: "websocket", HTTPVersion: "1.1"},
		{Initiator: "style", HTTPVersion: "2"}, {Initiator: "script", HTTPVersion: "2"},
		{Initiator: "image", HTTPVersion: "1.1"}, {Initiator: "font", HTTPVersion: "2"},
		{Initiator: "iframe", HTTPVersion: "1.1"}, {Initiator: "manifest", HTTPVersion: "2"},
	}
	if got := strings.Join(missingInitiators(rows, "2"), ","); got != "xhr,websocket,iframe,image" {
		t.Errorf("missing over h2: %s", got)
	}
	if got := strings.Join(missingInitiators(rows, "1.1"), ","); got != "navigate,fetch,form,style,script,font" {
		t.Errorf("missing over http/1.1: %s", got)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-browsers", "netscape"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "netscape") {
		t.Errorf("unknown browser: exit %d, %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
	if code := run(context.Background(), []string{"-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// TestCaptureChromium runs the real capture for Chromium and checks it
// reproduces the committed catalogue profile's fingerprints and records the
// HTTP/2 encoding fields.
func TestCaptureChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real browser")
	}
	for _, tool := range []string{"chromium", "xvfb-run", "certutil", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	bin := filepath.Join(t.TempDir(), "fpserver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fpserver")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fpserver: %v\n%s", err, b)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"-browsers", "chromium", "-fpserver", bin, "-out", out, "-timeout", "90s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("profilegen: exit %d\n%s", code, stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "chromium-*-linux.json"))
	if len(files) != 1 {
		t.Fatalf("wrote %v\n%s", files, stderr.String())
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := emulation.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.TLS.ClientHello == nil || p.H1 == nil || p.H2 == nil {
		t.Fatalf("incomplete profile %s", p.Name)
	}
	for _, in := range emulation.Initiators() {
		if len(p.H1.Headers[in]) == 0 || len(p.H2.Headers[in]) == 0 {
			t.Errorf("%s: no %s headers", p.Name, in)
		}
	}
	// HTTP/2 encoding recorded from the capture (issue 13.4).
	if p.H2.FirstStreamID != 1 || p.H2.StreamWindowUpdate != 0 || p.H2.HuffmanAlways || p.H2.TableSizeUpdate {
		t.Errorf("chromium: first stream %d, stream WINDOW_UPDATE %d, Huffman always %v, table size update %v; want 1, 0, false, false",
			p.H2.FirstStreamID, p.H2.StreamWindowUpdate, p.H2.HuffmanAlways, p.H2.TableSizeUpdate)
	}
	for _, in := range emulation.Initiators() {
		if p.H2.HPACK[in] == "" {
			t.Errorf("no HPACK codes for %s", in)
		}
	}
	if p.H2.HPACKIndexing[":path"] != "w" || p.H2.HPACKIndexing["user-agent"] != "l" {
		t.Errorf("HPACK indexing %v: want :path w, user-agent l", p.H2.HPACKIndexing)
	}
	// Client hints after fpserver's Accept-CH (issue 13.5): the Critical-CH
	// repeat of the navigation and the page's fetch carry them.
	if p.ClientHints == nil {
		t.Error("no client_hints lists")
	} else {
		for _, in := range []emulation.Initiator{emulation.Navigate, emulation.Fetch} {
			if !slices.ContainsFunc(p.ClientHints.H2[in], func(h emulation.Header) bool { return h.Name == "sec-ch-ua-full-version-list" && h.Value != "" }) {
				t.Errorf("client_hints h2 %s lacks sec-ch-ua-full-version-list: %v", in, p.ClientHints.H2[in])
			}
		}
	}
	if !strings.Contains(p.Source.Note, "h2/navigate:cookie") {
		t.Errorf("the Critical-CH repeat navigation gave no cookie slot: %s", p.Source.Note)
	}
	if built, err := emulation.Lookup(p.Name); err == nil {
		if built.Expected.JA4 != p.Expected.JA4 || built.Expected.Akamai != p.Expected.Akamai {
			t.Errorf("capture gives %s / %s, the catalogue has %s / %s", p.Expected.JA4, p.Expected.Akamai, built.Expected.JA4, built.Expected.Akamai)
		}
	} else {
		t.Logf("the catalogue has no %s (a new Chromium version?): %v", p.Name, err)
	}
}
