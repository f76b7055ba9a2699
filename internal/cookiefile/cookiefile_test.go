package cookiefile

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestReadMatchAndOrder(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	file := filepath.Join(t.TempDir(), "cookies.txt")
	content := "# Netscape HTTP Cookie File\n\n" +
		".example.org\tTRUE\t/\tFALSE\t0\tsite\t1\n" +
		"#HttpOnly_www.example.org\tFALSE\t/app\tTRUE\t0\tdeep\t2\n" +
		"www.example.org\tFALSE\t/\tFALSE\t1000\told\t3\n" + // expired
		"www.example.org\tFALSE\t/\tFALSE\t0\tlater\t4\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	j := New()
	j.now = func() time.Time { return now }
	if err := j.ReadFile(file); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]string{
		"https://www.example.org/app/x": "deep=2; site=1; later=4", // longer path first, then older
		"http://www.example.org/app/x":  "site=1; later=4",         // secure only over https
		"https://sub.example.org/":      "site=1",                  // domain cookie; host-only ones stay home
		"https://example.com/":          "",
		"https://www.example.org/apple": "site=1; later=4", // /app does not path-match /apple
	} {
		if got := j.Header(mustURL(t, u)); got != want {
			t.Errorf("Header(%s) = %q, want %q", u, got, want)
		}
	}
	if err := os.WriteFile(file, []byte("bad line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := New().ReadFile(file); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed file: %v", err)
	}
}

func TestSetCookiesAndWrite(t *testing.T) {
	j := New()
	u := mustURL(t, "https://www.example.org/shop/cart")
	resp := &http.Response{Header: http.Header{"Set-Cookie": {
		"a=1", // host-only, default path /shop
		"b=2; Domain=example.org; Path=/; Secure; HttpOnly; Max-Age=60",
		"c=3; Domain=other.example", // not ours: ignored
	}}}
	j.SetCookies(u, resp)
	if got := j.Header(mustURL(t, "https://www.example.org/shop/x")); got != "a=1; b=2" {
		t.Errorf("after Set-Cookie: %q", got)
	}
	if got := j.Header(mustURL(t, "https://www.example.org/")); got != "b=2" {
		t.Errorf("default path: %q", got)
	}
	var buf bytes.Buffer
	if err := j.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "www.example.org\tFALSE\t/shop\tFALSE\t0\ta\t1\n") || !strings.Contains(out, "#HttpOnly_.example.org\tTRUE\t/\tTRUE\t") || strings.Contains(out, "other.example") {
		t.Errorf("written jar:\n%s", out)
	}
	// Max-Age=0 deletes.
	j.SetCookies(u, &http.Response{Header: http.Header{"Set-Cookie": {"b=; Domain=example.org; Path=/; Max-Age=0"}}})
	if got := j.Header(mustURL(t, "https://www.example.org/shop/x")); got != "a=1" {
		t.Errorf("after deletion: %q", got)
	}
	// A round trip through a file keeps what was written.
	file := filepath.Join(t.TempDir(), "jar.txt")
	if err := j.WriteFile(file); err != nil {
		t.Fatal(err)
	}
	k := New()
	if err := k.ReadFile(file); err != nil {
		t.Fatal(err)
	}
	if got := k.Header(mustURL(t, "https://www.example.org/shop/x")); got != "a=1" {
		t.Errorf("after a round trip: %q", got)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("jar file mode: %v %v", fi, err)
	}
}
