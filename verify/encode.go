package verify

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/trigsync/trigsync/changelog"
)

// The digest of a range is the xxhash64 of its rows in key order, each row
// its values in the table's canonical column order, each value a tag byte
// (its storage class: changelog.Null … changelog.Blob) followed by, for an
// INTEGER, its 8 bytes big-endian; for a REAL, the 8 bytes of its IEEE 754
// bits big-endian; for TEXT and BLOB, the length as a uvarint and the
// bytes; for NULL, nothing. The encoding is prefix-free, so the
// concatenation names the rows exactly.

// appendValue appends v's encoding to b.
func appendValue(b []byte, v changelog.Value) []byte {
	b = append(b, byte(v.Type))
	switch v.Type {
	case changelog.Integer:
		b = binary.BigEndian.AppendUint64(b, uint64(v.Int))
	case changelog.Real:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Real))
	case changelog.Text:
		b = binary.AppendUvarint(b, uint64(len(v.Text)))
		b = append(b, v.Text...)
	case changelog.Blob:
		b = binary.AppendUvarint(b, uint64(len(v.Blob)))
		b = append(b, v.Blob...)
	}
	return b
}

// appendRaw appends the encoding of a value as the driver scanned it,
// which is appendValue's of changelog.FromSQL(x) without the copy.
func appendRaw(b []byte, x any) ([]byte, error) {
	switch x := x.(type) {
	case nil:
		return append(b, byte(changelog.Null)), nil
	case int64:
		b = append(b, byte(changelog.Integer))
		return binary.BigEndian.AppendUint64(b, uint64(x)), nil
	case float64:
		b = append(b, byte(changelog.Real))
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case string:
		b = append(b, byte(changelog.Text))
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...), nil
	case []byte:
		b = append(b, byte(changelog.Blob))
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...), nil
	}
	return b, fmt.Errorf("unexpected SQLite value of Go type %T", x)
}
