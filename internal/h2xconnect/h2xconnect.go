// Package h2xconnect turns on extended CONNECT (RFC 8441, WebSockets over
// HTTP/2) in net/http's HTTP/2 server for the program that imports it.
//
// Go 1.26's net/http (h2_bundle.go; x/net/http2 has the same switch) keeps
// extended CONNECT off unless the GODEBUG environment variable contains
// "http2xconnect=1", and reads it once, with os.Getenv, in the package's
// init. It is not a registered GODEBUG setting, so a //go:debug directive
// does not compile ("unknown //go:debug setting") and the go.mod godebug
// line cannot carry it either; setting it from main or TestMain is too
// late.
//
// Importing this package for its side effect appends http2xconnect=1 to
// GODEBUG before net/http initialises: since Go 1.21 packages are
// initialised in import-path order among those whose imports are ready
// (Go spec, "Package initialization"), and this package, which imports
// only os and strings, sorts before "net/http". A GODEBUG that already
// names http2xconnect (=0 to opt out) is left alone. The variable is
// inherited by child processes, which ignore it unless they are Go
// programs serving HTTP/2.
//
// The server then advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and hands
// a CONNECT stream with a :protocol pseudo header to the handler: Method
// "CONNECT", the :path as URL and RequestURI, and the protocol in
// Header[":protocol"]. Every handler that might see such a request must
// either serve it or refuse it (chi answers 405 to routes that have no
// CONNECT handler).
package h2xconnect

import (
	"os"
	"strings"
)

// Setting is the GODEBUG entry this package adds.
const Setting = "http2xconnect=1"

func init() {
	gd := os.Getenv("GODEBUG")
	if strings.Contains(gd, "http2xconnect=") {
		return
	}
	if gd != "" {
		gd += ","
	}
	_ = os.Setenv("GODEBUG", gd+Setting)
}
