package fingerprint

import "testing"

func TestHeaderOrderOf(t *testing.T) {
	tests := []struct {
		names []string
		order string
		hash  string // printf ORDER | sha256sum | cut -c1-12
	}{
		{[]string{"Host", "User-Agent", "Accept"}, "Host,User-Agent,Accept", "fe444ad14866"},
		{[]string{"a", "A", "a"}, "a,A,a", "06c78764f423"},
		{nil, "", "000000000000"},
	}
	for _, tc := range tests {
		fp := HeaderOrderOf(tc.names...)
		if fp.Order != tc.order || fp.Hash != tc.hash {
			t.Errorf("HeaderOrderOf(%q) = %+v, want %s %s", tc.names, fp, tc.order, tc.hash)
		}
	}
}

func TestH2RequestHeaderOrderPseudoFirst(t *testing.T) {
	r := H2Request{
		Pseudo:  []Header{{":method", "GET"}, {":path", "/"}},
		Headers: []Header{{"user-agent", "x"}},
	}
	fp := r.HeaderOrder()
	if fp.Order != ":method,:path,user-agent" || fp.Hash != "705f4314d3ad" {
		t.Errorf("HeaderOrder = %+v", fp)
	}
	if fp != HeaderOrderOf(":method", ":path", "user-agent") {
		t.Errorf("HeaderOrder %+v differs from HeaderOrderOf", fp)
	}
	if got := (&H2Request{}).HeaderOrder(); got.Hash != "000000000000" || got.Order != "" {
		t.Errorf("empty request order = %+v", got)
	}
}
