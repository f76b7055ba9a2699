package importer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestRamaRoundTrip: rama -> ours -> rama keeps the fields rama uses: the
// structured ClientHello exactly, the HTTP/2 early frames and pseudo
// order, the user agent, and the header lists with the first-contact rule
// applied (requested client hints dropped, caller values empty).
func TestRamaRoundTrip(t *testing.T) {
	b, err := os.ReadFile(ramaFile)
	if err != nil {
		t.Fatalf("rama data: %v", err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	res, err := FromRama(b, RamaOrigin)
	if err != nil {
		t.Fatal(err)
	}
	byUA := map[string]map[string]any{}
	for _, r := range recs {
		byUA[r["uastr"].(string)] = r
	}
	for _, p := range res.Profiles {
		out, err := ToRama(p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		src := byUA[p.UserAgent]
		if !reflect.DeepEqual(got["tls_client_hello"], src["tls_client_hello"]) {
			t.Errorf("%s: tls_client_hello differs after the round trip", p.Name)
		}
		// Firefox's WINDOW_UPDATE on its first stream is the profile's
		// first_stream_id and stream_window_update, and comes back.
		if srcH2, ok := src["h2_settings"].(map[string]any); ok {
			for _, f := range srcH2["early_frames"].([]any) {
				if wu, ok := f.(map[string]any)["WindowUpdate"].(map[string]any); ok && wu["stream_id"].(float64) != 0 {
					if p.H2.FirstStreamID != uint32(wu["stream_id"].(float64)) || p.H2.StreamWindowUpdate != uint32(wu["size_increment"].(float64)) {
						t.Errorf("%s: stream WINDOW_UPDATE %v became first stream %d, increment %d", p.Name, wu, p.H2.FirstStreamID, p.H2.StreamWindowUpdate)
					}
				}
			}
		}
		if !reflect.DeepEqual(got["h2_settings"], src["h2_settings"]) {
			g, _ := json.Marshal(got["h2_settings"])
			w, _ := json.Marshal(src["h2_settings"])
			t.Errorf("%s: h2_settings\n got  %s\n want %s", p.Name, g, w)
		}
		for _, k := range []string{"h1_headers_navigate", "h1_headers_fetch", "h1_headers_xhr", "h1_headers_form", "h1_headers_ws", "h2_headers_navigate", "h2_headers_fetch", "h2_headers_xhr", "h2_headers_form", "h2_headers_ws"} {
			var want [][2]string
			if l, ok := src[k].([]any); ok {
				var pairs [][2]string
				for _, h := range l {
					hh := h.([]any)
					pairs = append(pairs, [2]string{hh[0].(string), hh[1].(string)})
				}
				for _, h := range headers(pairs) {
					want = append(want, [2]string{h.Name, h.Value})
				}
			}
			var have [][2]string
			if l, ok := got[k].([]any); ok {
				for _, h := range l {
					hh := h.([]any)
					have = append(have, [2]string{hh[0].(string), hh[1].(string)})
				}
			}
			if !reflect.DeepEqual(have, want) {
				t.Errorf("%s: %s\n got  %v\n want %v", p.Name, k, have, want)
			}
		}
		// And back again: the exported document converts to the same profile.
		again, err := FromRama(append(append([]byte("["), out...), ']'), RamaOrigin)
		if err != nil || len(again.Profiles) != 1 {
			t.Fatalf("%s: re-import: %v %v", p.Name, err, again.Problems)
		}
		if q := again.Profiles[0]; string(q.TLS.ClientHello) != string(p.TLS.ClientHello) || !reflect.DeepEqual(q.H2, p.H2) || !reflect.DeepEqual(q.H1, p.H1) {
			t.Errorf("%s: re-imported profile differs", p.Name)
		}
	}
}
