//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
)

func hdrs(names ...string) []emulation.Header {
	var out []emulation.Header
	for _, n := range names {
		out = append(out, emulation.Header{Name: n, Value: "v-" + n})
	}
	return out
}

func joinNames(hs []emulation.Header) string {
	var n []string
	for _, h := range hs {
		n = append(n, h.Name+"="+h.Value)
	}
	return strings.Join(n, ",")
}

func TestMergeCallerSlots(t *testing.T) {
	tests := []struct {
		name      string
		list      []emulation.Header
		repeat    []emulation.Header
		want      string
		wantAdded string
	}{
		{"chromium h2: cookie after accept-language",
			hdrs("sec-ch-ua", "accept", "accept-language", "priority"),
			hdrs(":method", ":path", "accept", "sec-ch-ua", "sec-ch-ua-arch", "accept-language", "cookie", "priority"),
			"sec-ch-ua=v-sec-ch-ua,accept=v-accept,accept-language=v-accept-language,cookie=,priority=v-priority", "cookie"},
		{"chromium h1: Cookie last",
			hdrs("Host", "Accept-Language"),
			hdrs("Host", "Upgrade-Insecure-Requests", "Accept-Language", "Cookie"),
			"Host=v-Host,Accept-Language=v-Accept-Language,Cookie=", "Cookie"},
		{"no shared predecessor: front",
			hdrs("accept"),
			hdrs(":method", "referer", "accept"),
			"referer=,accept=v-accept", "referer"},
		{"present slots and non-caller-only headers are left alone",
			hdrs("accept", "cookie"),
			hdrs("accept", "sec-ch-ua-model", "cookie", "x-new"),
			"accept=v-accept,cookie=v-cookie", ""},
	}
	for _, tc := range tests {
		got, added := mergeCallerSlots(tc.list, tc.repeat)
		if joinNames(got) != tc.want || strings.Join(added, ",") != tc.wantAdded {
			t.Errorf("%s:\n got %s (added %v)\nwant %s (added %s)", tc.name, joinNames(got), added, tc.want, tc.wantAdded)
		}
	}
}

func TestAddCallerSlotsUsesRepeatsOnly(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &emulation.Profile{
		H2: &emulation.H2{Headers: map[emulation.Initiator][]emulation.Header{emulation.Navigate: hdrs("accept", "priority")}},
		H1: &emulation.H1{Headers: map[emulation.Initiator][]emulation.Header{emulation.Navigate: hdrs("Host", "Accept")}},
	}
	caps := []emulation.VisitCapture{
		// Out of time order on purpose: the earliest is the builder's.
		{CreatedAt: t0.Add(time.Second), Initiator: emulation.Navigate, HTTPVersion: "2", Headers: hdrs("accept", "cookie", "priority")},
		{CreatedAt: t0, Initiator: emulation.Navigate, HTTPVersion: "2", Headers: hdrs("accept", "priority")},
		{CreatedAt: t0, Initiator: emulation.Navigate, HTTPVersion: "1.1", Headers: hdrs("Host", "Accept", "Cookie")},
	}
	added := addCallerSlots(p, caps)
	if strings.Join(added, ",") != "h2/navigate:cookie" {
		t.Errorf("added %v", added)
	}
	if got := joinNames(p.H2.Headers[emulation.Navigate]); got != "accept=v-accept,cookie=,priority=v-priority" {
		t.Errorf("h2 navigate %s", got)
	}
	if got := joinNames(p.H1.Headers[emulation.Navigate]); got != "Host=v-Host,Accept=v-Accept" {
		t.Errorf("h1 navigate changed without a repeat: %s", got)
	}
}

func TestMissingInitiators(t *testing.T) {
	rows := []store.Capture{
		{Initiator: "navigate", HTTPVersion: "2"}, {Initiator: "fetch", HTTPVersion: "2"},
		{Initiator: "xhr", HTTPVersion: "1.1"}, {Initiator: "form", HTTPVersion: "2"},
	}
	if got := strings.Join(missingInitiators(rows, "2"), ","); got != "xhr" {
		t.Errorf("missing over h2: %s", got)
	}
	if got := strings.Join(missingInitiators(rows, "1.1"), ","); got != "navigate,fetch,form" {
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
// reproduces the committed catalogue profile's fingerprints.
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
