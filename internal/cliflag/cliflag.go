// Package cliflag is the command-line setup both programs share: every
// flag -some-name can also be set by PREFIX_SOME_NAME (the command line
// wins), usage lists each flag with its variable, and -log-level /
// -log-format make the slog logger.
package cliflag

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// EnvName is the environment variable that sets flag name: prefix and the
// name upper-cased with '-' and '.' turned into '_' (FPSERVER_ + https-h1 ->
// FPSERVER_HTTPS_H1; EMUPROXY_ + http1.1 -> EMUPROXY_HTTP1_1).
func EnvName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// ApplyEnv sets every flag of fs whose environment variable getenv reports,
// so that the command line, parsed afterwards, still wins. It returns the
// first value a flag refused.
func ApplyEnv(fs *flag.FlagSet, prefix string, getenv func(string) (string, bool)) error {
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := getenv(EnvName(prefix, f.Name)); ok && firstErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("environment %s=%q: %w", EnvName(prefix, f.Name), v, err)
			}
		}
	})
	return firstErr
}

// PrintFlags writes every flag of fs with its type, usage, environment
// variable and (when not the zero value) default.
func PrintFlags(w io.Writer, fs *flag.FlagSet, prefix string) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  -%s", f.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s\n    \t(env %s", strings.ReplaceAll(usage, "\n", "\n    \t"), EnvName(prefix, f.Name))
		if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "false" {
			fmt.Fprintf(w, ", default %s", f.DefValue)
		}
		fmt.Fprintln(w, ")")
	})
}

// List is a comma-separated, repeatable string list flag.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values of v.
func (l *List) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// NewLogger returns a slog logger writing to w at level (debug, info, warn,
// error) in format (text or json).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format must be text or json, not %q", format)
}
