package emulation

import (
	"encoding/json"
	"fmt"
)

// UnmarshalList decodes either one profile document or a list in the form
// fpserver's /api/profiles and `fpserver profiles export` write
// ({"profiles": [documents]}), validating every profile. Any invalid
// profile fails the whole list, naming its index.
func UnmarshalList(b []byte) ([]*Profile, error) {
	var list struct {
		Profiles []json.RawMessage `json:"profiles"`
	}
	if err := json.Unmarshal(b, &list); err == nil && list.Profiles != nil {
		out := make([]*Profile, 0, len(list.Profiles))
		for i, raw := range list.Profiles {
			p, err := Unmarshal(raw)
			if err != nil {
				return nil, fmt.Errorf("emulation: profiles[%d]: %w", i, err)
			}
			out = append(out, p)
		}
		return out, nil
	}
	p, err := Unmarshal(b)
	if err != nil {
		return nil, err
	}
	return []*Profile{p}, nil
}
