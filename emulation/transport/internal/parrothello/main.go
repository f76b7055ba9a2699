// Command parrothello sends one utls parrot ClientHello to a TLS server and
// exits. It exists so the fingerprint golden tests can regenerate real utls
// captures (go test ./fingerprint -run TestGolden -update) without importing
// utls outside emulation/transport.
//
// Usage: parrothello -parrot NAME -server-name NAME ADDR
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	utls "github.com/refraction-networking/utls"
)

func parrots() map[string]utls.ClientHelloID {
	return map[string]utls.ClientHelloID{
		"chrome_auto":  utls.HelloChrome_Auto,
		"firefox_auto": utls.HelloFirefox_Auto,
		"safari_auto":  utls.HelloSafari_Auto,
		"ios_auto":     utls.HelloIOS_Auto,
		"edge_auto":    utls.HelloEdge_Auto,
	}
}

func main() {
	parrot := flag.String("parrot", "chrome_auto", "utls ClientHelloID: chrome_auto, firefox_auto, safari_auto, ios_auto, edge_auto")
	serverName := flag.String("server-name", "localhost", "SNI to send")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: parrothello -parrot NAME [-server-name NAME] ADDR")
		os.Exit(2)
	}
	id, ok := parrots()[*parrot]
	if !ok {
		fmt.Fprintf(os.Stderr, "parrothello: unknown parrot %q\n", *parrot)
		os.Exit(2)
	}
	conn, err := net.DialTimeout("tcp", flag.Arg(0), 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "parrothello: dial: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	uc := utls.UClient(conn, &utls.Config{ServerName: *serverName, InsecureSkipVerify: true}, id)
	// The capturing server closes the connection after reading the hello, so
	// the handshake is expected to fail; only the sent bytes matter.
	_ = uc.Handshake()
}
