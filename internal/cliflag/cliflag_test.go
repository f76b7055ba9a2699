package cliflag

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestEnvAndCommandLine(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("https-h1", ":8444", "`address`")
	var hosts List
	fs.Var(&hosts, "hosts", "names")
	n := fs.Int("n", 1, "a number")
	env := map[string]string{"X_HTTPS_H1": ":1", "X_HOSTS": "a,b", "X_N": "5"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := ApplyEnv(fs, "X_", getenv); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-n", "7"}); err != nil {
		t.Fatal(err)
	}
	if *addr != ":1" || strings.Join(hosts, "|") != "a|b" || *n != 7 {
		t.Errorf("got %q %v %d", *addr, hosts, *n)
	}
	env["X_N"] = "nope"
	if err := ApplyEnv(fs, "X_", getenv); err == nil || !strings.Contains(err.Error(), "X_N") {
		t.Errorf("bad value: %v", err)
	}
	var out bytes.Buffer
	PrintFlags(&out, fs, "X_")
	for _, want := range []string{"-https-h1 address", "(env X_HTTPS_H1, default :8444)", "(env X_HOSTS)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNewLogger(t *testing.T) {
	var out bytes.Buffer
	l, err := NewLogger(&out, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if strings.Contains(out.String(), "hidden") || !strings.Contains(out.String(), `"msg":"shown"`) {
		t.Errorf("log output %q", out.String())
	}
	if _, err := NewLogger(&out, "loud", "text"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(&out, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
}

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{"https-h1": "P_HTTPS_H1", "http1.1": "P_HTTP1_1", "k": "P_K"} {
		if got := EnvName("P_", name); got != want {
			t.Errorf("EnvName(%q) = %s, want %s", name, got, want)
		}
	}
}
