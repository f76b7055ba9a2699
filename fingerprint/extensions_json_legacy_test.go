package fingerprint

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// legacyExtensionJSON is the former Extension.MarshalJSON, which left the
// decoded value and every string to encoding/json: the reference the
// hand-written encoding is compared with, byte for byte, and the baseline
// of BenchmarkExtensionMarshalJSON.
func legacyExtensionJSON(e Extension) ([]byte, error) {
	b := make([]byte, 0, 96+2*len(e.Data))
	b = append(b, `{"type":`...)
	b = strconv.AppendUint(b, uint64(e.Type), 10)
	if name := ExtensionName(e.Type); name != "" {
		q, _ := json.Marshal(name)
		b = append(b, `,"name":`...)
		b = append(b, q...)
	}
	b = append(b, `,"grease":`...)
	b = strconv.AppendBool(b, e.GREASE)
	b = append(b, `,"length":`...)
	b = strconv.AppendInt(b, int64(len(e.Data)), 10)
	b = append(b, `,"data":"`...)
	b = hex.AppendEncode(b, e.Data)
	b = append(b, '"')
	v, err := e.Decode()
	if v != nil {
		d, merr := json.Marshal(v)
		if merr != nil {
			return nil, fmt.Errorf("fingerprint: encoding extension %d: %w", e.Type, merr)
		}
		b = append(b, `,"decoded":`...)
		b = append(b, d...)
	}
	if err != nil {
		q, _ := json.Marshal(err.Error())
		b = append(b, `,"decode_error":`...)
		b = append(b, q...)
	}
	return append(b, '}'), nil
}
