package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// maxKeyDepth bounds how deep duplicateKey looks; encoding/json refuses
// deeper documents anyway.
const maxKeyDepth = 10000

// duplicateKey returns the path (training.env.A, a[0].key) of the first key
// that an object of the JSON document b holds twice, comparing keys as
// decoded, so that "name" and "\u006eame" are the same key. A document that
// is not JSON has no duplicate here: its decoder says what is wrong.
func duplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	at, err := dupWalk(dec, "", 0)
	return at, err == nil && at != ""
}

func dupWalk(dec *json.Decoder, at string, depth int) (string, error) {
	if depth > maxKeyDepth {
		return "", errors.New("too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", err
			}
			k, _ := kt.(string)
			p := k
			if at != "" {
				p = at + "." + k
			}
			if seen[k] {
				return p, nil
			}
			seen[k] = true
			if dup, err := dupWalk(dec, p, depth+1); err != nil || dup != "" {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := dupWalk(dec, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil || dup != "" {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	}
	return "", nil
}
