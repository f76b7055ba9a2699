//go:build unix

package transport

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// realBrowserHellos opens a page in a real browser (headed under Xvfb, fresh
// profile) that loads an image from each of n TLS ports on 127.0.0.1, one
// connection each, and returns the ClientHellos the hello sinks read (a
// browser may retry a connection the sink closed; every hello is kept).
func realBrowserHellos(t *testing.T, browser string, n int) []*fingerprint.ClientHello {
	t.Helper()
	bin := testenv.RequireTool(t, browser)
	display := testenv.StartXvfb(t)
	hellos := make(chan *fingerprint.ClientHello, 4*n)
	var imgs strings.Builder
	for range n {
		addr, ch := helloSink(t)
		go func() {
			for h := range ch {
				select {
				case hellos <- h:
				default: // collection is over (or far past n): drop
				}
			}
		}()
		fmt.Fprintf(&imgs, `<img src="https://%s/i.png">`, addr)
	}
	page := "<!doctype html><title>hellos</title>" + imgs.String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + "/"

	dir := t.TempDir()
	var cmd *exec.Cmd
	if strings.HasPrefix(browser, "firefox") {
		prefs := `user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("app.update.disabledForTesting", true);
`
		if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(prefs), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin, "--no-remote", "--profile", dir, url)
	} else {
		cmd = exec.Command(bin, "--no-sandbox", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir="+dir, url)
	}
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "HOME="+home, "MOZ_CRASHREPORTER_DISABLE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	var got []*fingerprint.ClientHello
	deadline := time.After(90 * time.Second)
	for len(got) < n {
		select {
		case h := <-hellos:
			got = append(got, h)
		case <-done:
			t.Fatalf("%s exited after %d hellos:\n%s", browser, len(got), out.String())
		case <-deadline:
			t.Fatalf("%s sent %d of %d hellos in 90s:\n%.2000s", browser, len(got), n, out.String())
		}
	}
	// Retries of the closed connections may still be coming; take them.
	for {
		select {
		case h := <-hellos:
			got = append(got, h)
		case <-time.After(time.Second):
			return got
		}
	}
}

// countReuse counts the hellos offering both X25519MLKEM768 and X25519 and,
// among them, those whose hybrid share ends with the X25519 share.
func countReuse(hellos []*fingerprint.ClientHello) (both, reused int) {
	for _, h := range hellos {
		hy, x := keyShareData(h, 0x11ec), keyShareData(h, 0x001d)
		if len(hy) != 1216 || len(x) != 32 {
			continue
		}
		both++
		if bytes.Equal(hy[1184:], x) {
			reused++
		}
	}
	return both, reused
}

// TestX25519KeyReuseRealBrowsers measures the key reuse of real Chromium
// and Firefox ESR over 32 fresh connections each (an image from each of 32
// origins) and of the emulation with the matching built-in profile over 32
// connections: the shares must be reused on every connection or on none,
// the same for browser and emulation.
func TestX25519KeyReuseRealBrowsers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real browsers")
	}
	const n = 32
	var table []string
	for _, tc := range []struct{ browser, profile string }{{"chromium", "chromium-156-linux"}, {"firefox-esr", "firefox-153-linux"}} {
		real := realBrowserHellos(t, tc.browser, n)
		rBoth, rReused := countReuse(real)
		if rBoth < n {
			t.Fatalf("%s: %d of %d hellos offer both X25519MLKEM768 and X25519", tc.browser, rBoth, len(real))
		}
		p, err := emulation.Lookup(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		eBoth, eReused := countReuse(collectHellos(t, p, n))
		table = append(table, fmt.Sprintf("%-12s real %d/%d reused   emulation (%s) %d/%d reused", tc.browser, rReused, rBoth, tc.profile, eReused, eBoth))
		if rReused != 0 && rReused != rBoth {
			t.Errorf("%s reused its X25519 key on %d of %d connections: neither always nor never", tc.browser, rReused, rBoth)
		}
		if (rReused == rBoth) != (eReused == eBoth) || (rReused == 0) != (eReused == 0) {
			t.Errorf("%s: real browser reused %d/%d, emulation %d/%d", tc.browser, rReused, rBoth, eReused, eBoth)
		}
	}
	t.Log("X25519 key inside X25519MLKEM768:\n" + strings.Join(table, "\n"))
}
