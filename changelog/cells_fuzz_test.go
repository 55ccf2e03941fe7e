package changelog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/trigsync/trigsync/changelog"
)

// referenceCells decodes a Cells object with the json package's token
// reader: slow, obviously right.
func referenceCells(b []byte) (changelog.Cells, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	out := changelog.Cells{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var c changelog.Cell
		c.Column, _ = t.(string)
		if err := dec.Decode(&c.Value); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// FuzzCellsJSON: on valid JSON, Cells.UnmarshalJSON agrees with the
// reference decoder, in success and in result; on anything, it never
// panics.
func FuzzCellsJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"i:1","b":null}`, ` { "a" : "t:x\u00e9\n" , "b\"c" : "b:AAE=" } `,
		`{"a":"r:1.5","a":"i:2"}`, `{"a":"t:` + "\xff" + `"}`, `{"a":1}`, `{"a":"q:1"}`, `[]`, `{"a":"t:x"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got changelog.Cells
		err := got.UnmarshalJSON(b)
		if !json.Valid(b) {
			return
		}
		want, werr := referenceCells(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: fast %v, reference %v", b, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast %#v, reference %#v", b, got, want)
		}
	})
}
