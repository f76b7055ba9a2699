package transport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
)

// FuzzHelloRecord feeds arbitrary profile hello bytes to the record
// joiner: it must not panic, and a success is one well-formed record.
func FuzzHelloRecord(f *testing.F) {
	rec := golden(f, "chromium")
	f.Add(rec)
	f.Add(rec[5:])
	f.Add(splitRecords(rec, 200))
	f.Add(golden(f, "firefox_esr"))
	f.Add([]byte{0x16, 3, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := helloRecord(b)
		if err != nil {
			return
		}
		if len(out) < 5 || out[0] != 0x16 || int(out[3])<<8|int(out[4]) != len(out)-5 {
			t.Fatalf("malformed record % x", out[:min(len(out), 8)])
		}
	})
}

// serverFrames encodes a server's side of an exchange for seeds.
func serverFrames(fn func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	enc := hpack.NewEncoder(&hb)
	fn(fr, enc, &hb)
	return out.Bytes()
}

func statusBlock(enc *hpack.Encoder, hb *bytes.Buffer, fields ...string) []byte {
	hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), hb.Bytes()...)
}

// FuzzH2ServerBytes plays arbitrary bytes as the server side of an HTTP/2
// connection while one request is in flight. The client must neither
// panic nor hang: the request ends with a response or an error, and the
// body ends.
func FuzzH2ServerBytes(f *testing.F) {
	f.Add(serverFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: statusBlock(enc, hb, ":status", "200", "content-type", "text/plain"), EndHeaders: true})
		_ = fr.WriteData(1, false, []byte("hello "))
		_ = fr.WriteDataPadded(1, true, []byte("world"), []byte{0, 0, 0})
	}))
	f.Add(serverFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings()
		_ = fr.WritePing(false, [8]byte{1})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: statusBlock(enc, hb, ":status", "100"), EndHeaders: true})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: statusBlock(enc, hb, ":status", "200", "trailer", "x-t"), EndHeaders: true})
		_ = fr.WriteData(1, false, []byte("x"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: statusBlock(enc, hb, "x-t", "1"), EndHeaders: true, EndStream: true})
	}))
	f.Add(serverFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		_ = fr.WriteWindowUpdate(0, 1<<20)
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, []byte("bye"))
	}))
	f.Add(serverFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings()
		_ = fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
	}))
	f.Add(serverFrames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings()
		block := statusBlock(enc, hb, ":status", "204", "x-long", string(bytes.Repeat([]byte{'a'}, 100)))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:10]})
		_ = fr.WriteContinuation(1, true, block[10:])
		_ = fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: block, EndHeaders: true})
	}))
	f.Fuzz(func(t *testing.T, server []byte) {
		cc, peer := h2TestConn(t)
		defer cc.closeWithError(io.EOF)
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		go func() {
			_, _ = peer.Write(server)
			time.Sleep(10 * time.Millisecond)
			peer.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(WithInitiator(ctx, emulation.Navigate), http.MethodGet, "https://x/", nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := cc.roundTrip(req, cc.t.o.Profile)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		select {
		case <-done:
		case <-time.After(4 * time.Second):
			t.Fatal("request hung")
		}
	})
}
