package h2xconnect_test

import (
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	_ "github.com/guanaco-fp/guanaco/internal/h2xconnect"
)

// TestServerAdvertisesExtendedConnect checks that importing the package is
// enough for net/http's HTTP/2 server to send
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: it fails when a Go release moves or
// renames the switch (or changes how early it is read).
func TestServerAdvertisesExtendedConnect(t *testing.T) {
	if gd := os.Getenv("GODEBUG"); !strings.Contains(gd, "http2xconnect=") {
		t.Fatalf("GODEBUG %q lacks http2xconnect", gd)
	} else if !strings.Contains(gd, "http2xconnect=1") {
		t.Skipf("GODEBUG %q opts out", gd)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first server frame %v, want SETTINGS", f)
	}
	if v, ok := sf.Value(http2.SettingEnableConnectProtocol); !ok || v != 1 {
		t.Errorf("server SETTINGS %v: no ENABLE_CONNECT_PROTOCOL = 1", sf)
	}
}
