package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// envName is the environment variable that sets flag name: FPSERVER_ and the
// name upper-cased with '-' turned into '_' (-https-h1 -> FPSERVER_HTTPS_H1).
func envName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag of fs whose environment variable is set, so that
// the command line, parsed afterwards, still wins.
func applyEnv(fs *flag.FlagSet, prefix string, getenv func(string) (string, bool)) error {
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := getenv(envName(prefix, f.Name)); ok && firstErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("environment %s=%q: %w", envName(prefix, f.Name), v, err)
			}
		}
	})
	return firstErr
}

// printFlags writes every flag with its environment variable and default.
func printFlags(w io.Writer, fs *flag.FlagSet, prefix string) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  -%s", f.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s\n    \t(env %s", strings.ReplaceAll(usage, "\n", "\n    \t"), envName(prefix, f.Name))
		if f.DefValue != "" && f.DefValue != "[]" {
			fmt.Fprintf(w, ", default %s", f.DefValue)
		}
		fmt.Fprintln(w, ")")
	})
}

// listFlag is a comma-separated, repeatable string list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values of v.
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
