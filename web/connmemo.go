package web

import (
	"sync"
	"sync/atomic"

	"github.com/guanaco-fp/guanaco/capture"
)

// connMemo is what web keeps per TLS connection, in one entry of the
// connection's memo (capture.TLSInfo.Memo), so that a request looks it up
// once and hands it on (report.conn, cleanReport.conn, tlsReport.conn):
// values derived only from the handshake are computed once, on first use,
// and values derived from a request as well keep the connection's last one,
// reused while the connection's requests repeat it.
type connMemo struct {
	info *capture.TLSInfo

	tlsObjOnce sync.Once
	tlsObj     *tlsReport // the "tls" object (connTLS)

	tlsJSONOnce sync.Once
	tlsJSON     memoJSON // its encoding (tlsReport.MarshalJSON)

	summaryOnce sync.Once
	summary     memoJSON // the stored TLS summary (tlsReport.summaryJSON)

	fpJSONOnce sync.Once
	fpJSON     []byte // the TLS fingerprints' JSON members (appendFingerprintFields)

	stored   atomic.Int64 // captures admitted for storage (admitStore)
	clientIP clientIPMemo
	h2Texts  h2TextMemo
	h2Doc    h2DocMemo
	judge    judgeMemo
}

// memoConn keys connMemo in a connection's memo.
type memoConn struct{}

// connMemoOf returns the memo of the connection whose handshake is info,
// nil when info is nil.
func connMemoOf(info *capture.TLSInfo) *connMemo {
	if info == nil {
		return nil
	}
	return info.Memo(memoConn{}, func() any { return &connMemo{info: info} }).(*connMemo)
}
