package transport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// slowEOF returns its data in one Read and io.EOF only on the next, as a
// pipe or a proxied client body does.
type slowEOF struct{ data []byte }

func (r *slowEOF) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestH2Encoding checks what a browser's HTTP/2 stack does and the emulation
// must do too: a request body ends with END_STREAM on its last DATA frame
// (no extra empty DATA frame), whether or not its length is known, and a
// :path the static table lacks is a literal without indexing.
func TestH2Encoding(t *testing.T) {
	ca := newTestCA(t)
	p := testProfile(t)
	type stream struct {
		block []byte
		data  []int // lengths of the DATA frames
		ended bool  // END_STREAM on the last DATA frame
	}
	got := make(chan stream, 4)
	srv := startRawH2(t, ca, nil, func(c *rawConn) {
		c.fr.ReadMetaHeaders = nil // raw header blocks
		streams := map[uint32]*stream{}
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.HeadersFrame:
				st := &stream{block: append([]byte(nil), f.HeaderBlockFragment()...)}
				streams[f.StreamID] = st
				if f.StreamEnded() {
					got <- *st
					_ = c.respond(f.StreamID, 204, nil, nil)
				}
			case *http2.DataFrame:
				st := streams[f.StreamID]
				st.data = append(st.data, len(f.Data()))
				if f.StreamEnded() {
					st.ended = true
					got <- *st
					_ = c.respond(f.StreamID, 204, nil, nil)
				}
			}
		}
	})
	tr := New(Options{Profile: p, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	body := bytes.Repeat([]byte("x"), 100)
	for _, tc := range []struct {
		name string
		body io.Reader
	}{{"known length", bytes.NewReader(body)}, {"unknown length", &slowEOF{data: body}}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://localhost:"+portOf(srv.addr)+"/upload?x=1", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tc.body.(*slowEOF); ok {
			req.ContentLength = -1
		}
		resp, err := tr.RoundTrip(req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		var st stream
		select {
		case st = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the server saw no complete request", tc.name)
		}
		if len(st.data) != 1 || st.data[0] != len(body) || !st.ended {
			t.Errorf("%s: DATA frames %v (END_STREAM on the last: %v), want one of %d bytes ending the stream", tc.name, st.data, st.ended, len(body))
		}
		want := appendHPACKString(appendHPACKInt(nil, 4, 0x00, 4), "/upload?x=1", false)
		if want[0] != 0x04 || !bytes.Contains(st.block, want) {
			t.Errorf("%s: :path is not a literal without indexing: block %x, want %x in it", tc.name, st.block, want)
		}
	}
}

// TestAppendHPACKInt checks the integer encoding against RFC 7541 C.1.
func TestAppendHPACKInt(t *testing.T) {
	for _, tc := range []struct {
		n    uint
		v    uint64
		want []byte
	}{{5, 10, []byte{10}}, {5, 1337, []byte{31, 154, 10}}, {8, 42, []byte{42}}, {4, 15, []byte{15, 0}}} {
		if got := appendHPACKInt(nil, tc.n, 0, tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("%d with %d-bit prefix: %v, want %v", tc.v, tc.n, got, tc.want)
		}
	}
}
