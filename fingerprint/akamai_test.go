package fingerprint

import "testing"

func TestAkamaiString(t *testing.T) {
	chromeSettings := []H2Setting{{1, 65536}, {2, 0}, {4, 6291456}, {6, 262144}}
	tests := []struct {
		name     string
		settings []H2Setting
		wu       uint32
		prios    []H2Priority
		pseudo   []string
		text     string
		hash     string // printf TEXT | md5sum
	}{
		{"chrome", chromeSettings, 15663105, nil, []string{":method", ":authority", ":scheme", ":path"},
			"1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p", "52d84b11737d980aef856699f885ca86"},
		{"letters given directly", chromeSettings, 15663105, nil, []string{"m", "a", "s", "p"},
			"1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p", "52d84b11737d980aef856699f885ca86"},
		{"firefox with PRIORITY frames", []H2Setting{{1, 65536}, {4, 131072}, {5, 16384}}, 12517377,
			[]H2Priority{{3, false, 0, 201}, {5, false, 0, 101}, {7, false, 0, 1}, {9, false, 7, 1}, {11, false, 3, 1}, {13, false, 0, 241}},
			[]string{":method", ":path", ":authority", ":scheme"},
			"1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1,13:0:0:241|m,p,a,s", "3d9132023bf26a71d40fe766e5c24c9d"},
		{"nothing", nil, 0, nil, nil, "|00|0|", "4420df39710ed13773d86b9de54c4cdf"},
		{"exclusive, weight 256, empty names skipped", []H2Setting{{1, 1}}, 2, []H2Priority{{3, true, 0, 256}}, []string{"", ":method", ""},
			"1:1|2|3:1:0:256|m", "77131248e2d25e0b13c51983e267b17d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := AkamaiString(tc.settings, tc.wu, tc.prios, tc.pseudo)
			if fp.Text != tc.text || fp.Hash != tc.hash {
				t.Errorf("got %+v, want %s %s", fp, tc.text, tc.hash)
			}
		})
	}
}

func TestAkamaiPseudoProtocol(t *testing.T) {
	// :protocol (RFC 8441) gets the first letter after the colon, like
	// every pseudo-header; it shares "p" with :path.
	fp := AkamaiString(nil, 0, nil, []string{":method", ":protocol", ":scheme", ":path", ":authority"})
	if fp.Text != "|00|0|m,p,s,p,a" {
		t.Errorf("text = %s", fp.Text)
	}
}
