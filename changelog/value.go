package changelog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is a SQLite storage class.
type Type uint8

// The five storage classes.
const (
	Null Type = iota
	Integer
	Real
	Text
	Blob
)

var typeNames = [...]string{"null", "integer", "real", "text", "blob"}

func (t Type) String() string { return typeNames[t] }

// Value is one SQLite value with its exact storage class and bits.
type Value struct {
	Type Type
	Int  int64
	Real float64
	Text string
	Blob []byte
}

// Int64, Float, String, Bytes and NullValue construct values.
func Int64(i int64) Value   { return Value{Type: Integer, Int: i} }
func Float(f float64) Value { return Value{Type: Real, Real: f} }
func String(s string) Value { return Value{Type: Text, Text: s} }
func Bytes(b []byte) Value  { return Value{Type: Blob, Blob: b} }
func NullValue() Value      { return Value{} }

// FromSQL converts what the driver scanned into an any.
func FromSQL(x any) (Value, error) {
	switch x := x.(type) {
	case nil:
		return Value{}, nil
	case int64:
		return Int64(x), nil
	case float64:
		return Float(x), nil
	case string:
		return String(x), nil
	case []byte:
		return Bytes(bytes.Clone(x)), nil
	}
	return Value{}, fmt.Errorf("unexpected SQLite value of Go type %T", x)
}

// SQL returns the value to bind as a statement argument.
func (v Value) SQL() any {
	switch v.Type {
	case Integer:
		return v.Int
	case Real:
		return v.Real
	case Text:
		return v.Text
	case Blob:
		if v.Blob == nil {
			return []byte{}
		}
		return v.Blob
	}
	return nil
}

// Equal reports whether v and o are the same storage class and the same
// bits (so 1 ≠ 1.0 and 0.0 ≠ -0.0).
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	switch v.Type {
	case Integer:
		return v.Int == o.Int
	case Real:
		return math.Float64bits(v.Real) == math.Float64bits(o.Real)
	case Text:
		return v.Text == o.Text
	case Blob:
		return bytes.Equal(v.Blob, o.Blob)
	}
	return true
}

// String renders the value in its JSON text form without JSON quoting.
func (v Value) String() string {
	switch v.Type {
	case Integer:
		return "i:" + strconv.FormatInt(v.Int, 10)
	case Real:
		switch {
		case math.IsInf(v.Real, 1):
			return "r:+Inf"
		case math.IsInf(v.Real, -1):
			return "r:-Inf"
		case v.Real == 0 && math.Signbit(v.Real):
			return "r:-0"
		}
		return "r:" + strconv.FormatFloat(v.Real, 'g', -1, 64)
	case Text:
		return "t:" + v.Text
	case Blob:
		return "b:" + base64.StdEncoding.EncodeToString(v.Blob)
	}
	return "null"
}

// MarshalJSON encodes the value as docs/FORMAT.md "Values in JSON" says.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.Type == Null {
		return []byte("null"), nil
	}
	return json.Marshal(v.String())
}

// UnmarshalJSON decodes what MarshalJSON wrote, rejecting anything else.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Value{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("value: want null or a tagged string, got %.40s", b)
	}
	parsed, err := ParseValue(s)
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}

// ParseValue parses the text form that String returns (other than "null").
func ParseValue(s string) (Value, error) {
	tag, body, ok := strings.Cut(s, ":")
	if !ok || len(tag) != 1 {
		return Value{}, fmt.Errorf("value %.40q: want a type tag (i, r, t or b) and a colon", s)
	}
	switch tag {
	case "i":
		i, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("value %.40q: not a 64-bit integer", s)
		}
		return Int64(i), nil
	case "r":
		f, err := strconv.ParseFloat(body, 64)
		if err != nil || math.IsNaN(f) {
			return Value{}, fmt.Errorf("value %.40q: not a real number", s)
		}
		return Float(f), nil
	case "t":
		return String(body), nil
	case "b":
		b, err := base64.StdEncoding.Strict().DecodeString(body)
		if err != nil {
			return Value{}, fmt.Errorf("value %.40q: not standard base64", s)
		}
		if b == nil {
			b = []byte{}
		}
		return Bytes(b), nil
	}
	return Value{}, fmt.Errorf("value %.40q: unknown type tag %q", s, tag)
}
