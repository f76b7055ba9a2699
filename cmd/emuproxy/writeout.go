package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// transferInfo is what -w can print about a finished `emuproxy get`.
type transferInfo struct {
	code          int    // last response's status, 0 when none
	httpVersion   string // "1.1" or "2"
	alpn          string
	urlEffective  string
	redirectURL   string // Location of the last response when not followed
	contentType   string
	scheme        string
	sizeDownload  int64
	sizeHeader    int64
	numRedirects  int
	profile       string
	initiator     string
	ja4           string
	exitCode      int
	errMsg        string
	total         time.Duration
	startTransfer time.Duration // until the last response's head
	connect       time.Duration // the last TCP connect (0 when reused)
	remoteIP      string        // peer of the last new connection
	remotePort    int
}

// writeOutVars are the -w variables, curl's names where curl has one.
const writeOutVars = "http_code, response_code, http_version, scheme, url_effective, redirect_url, content_type, size_download, size_header, num_redirects, time_total, time_connect, time_starttransfer, remote_ip, remote_port, exitcode, errormsg; emuproxy's own: alpn, profile, initiator, ja4"

// expandWriteOut expands a -w format: %{name} variables, %% for a
// percent sign, and the escapes \n, \r, \t and \\. "@FILE" reads the
// format from a file. An unknown variable is an error listing the known
// ones.
func expandWriteOut(format string, ti *transferInfo) (string, error) {
	if name, ok := strings.CutPrefix(format, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("-w: %w", err)
		}
		format = string(b)
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '%' && i+1 < len(format) && format[i+1] == '%':
			b.WriteByte('%')
			i++
		case c == '%' && strings.HasPrefix(format[i:], "%{"):
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("-w: unterminated %%{ at offset %d", i)
			}
			name := format[i+2 : i+end]
			v, ok := ti.value(name)
			if !ok {
				return "", fmt.Errorf("-w: unknown variable %q (known: %s)", name, writeOutVars)
			}
			b.WriteString(v)
			i += end
		case c == '\\' && i+1 < len(format):
			switch format[i+1] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte(c)
				continue
			}
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) }

func (ti *transferInfo) value(name string) (string, bool) {
	switch name {
	case "http_code", "response_code":
		return fmt.Sprintf("%03d", ti.code), true
	case "http_version":
		return cmpOr(ti.httpVersion, "0"), true
	case "scheme":
		return strings.ToUpper(ti.scheme), true
	case "url_effective":
		return ti.urlEffective, true
	case "redirect_url":
		return ti.redirectURL, true
	case "content_type":
		return ti.contentType, true
	case "size_download":
		return strconv.FormatInt(ti.sizeDownload, 10), true
	case "size_header":
		return strconv.FormatInt(ti.sizeHeader, 10), true
	case "num_redirects":
		return strconv.Itoa(ti.numRedirects), true
	case "time_total":
		return seconds(ti.total), true
	case "time_starttransfer":
		return seconds(ti.startTransfer), true
	case "time_connect":
		return seconds(ti.connect), true
	case "remote_ip":
		return ti.remoteIP, true
	case "remote_port":
		return strconv.Itoa(ti.remotePort), true
	case "exitcode":
		return strconv.Itoa(ti.exitCode), true
	case "errormsg":
		return ti.errMsg, true
	case "alpn":
		return ti.alpn, true
	case "profile":
		return ti.profile, true
	case "initiator":
		return ti.initiator, true
	case "ja4":
		return ti.ja4, true
	}
	return "", false
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
