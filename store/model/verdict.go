package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// Normalized returns the verdict as every backend stores it, so that a value
// read back equals v.Normalized():
//   - SeenAt and EvaluatedAt in UTC, truncated to the microsecond;
//   - text fields made valid UTF-8 without NUL bytes (see CleanText);
//   - Details and Profile made valid UTF-8 (see Capture.Normalized); empty
//     documents become nil;
//   - an empty CaptureIDs becomes nil.
//
// Normalized does not validate; call Validate first.
func (v VisitVerdict) Normalized() VisitVerdict {
	v.SeenAt = v.SeenAt.UTC().Truncate(time.Microsecond)
	v.EvaluatedAt = v.EvaluatedAt.UTC().Truncate(time.Microsecond)
	for _, p := range []*string{&v.ClientIP, &v.UserAgent, &v.BrowserKey, &v.WireKey, &v.Reason} {
		*p = CleanText(*p)
	}
	v.Details = cleanJSON(v.Details)
	v.Profile = cleanJSON(v.Profile)
	if len(v.CaptureIDs) == 0 {
		v.CaptureIDs = nil
	} else {
		v.CaptureIDs = append([]string(nil), v.CaptureIDs...)
	}
	return v
}

// EncodeIDs encodes a list of capture IDs as the JSON array stored in the
// database. A nil or empty list encodes as "[]".
func EncodeIDs(ids []string) []byte {
	if len(ids) == 0 {
		return []byte("[]")
	}
	b := make([]byte, 0, 2+len(ids)*(MaxIDLen/2+3))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, id)
	}
	return append(b, ']')
}

// DecodeIDs is the inverse of EncodeIDs; an empty array or empty input decodes
// to nil.
func DecodeIDs(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, fmt.Errorf("model: decoding capture ids: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}
