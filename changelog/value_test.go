package changelog_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

// edgeValues are the values the format must keep apart.
var edgeValues = []changelog.Value{
	changelog.NullValue(),
	changelog.Int64(0), changelog.Int64(1), changelog.Int64(-1),
	changelog.Int64(math.MaxInt64), changelog.Int64(math.MinInt64),
	changelog.Float(0), changelog.Float(math.Copysign(0, -1)), changelog.Float(1), changelog.Float(0.1),
	changelog.Float(math.MaxFloat64), changelog.Float(math.SmallestNonzeroFloat64), changelog.Float(-1e-310),
	changelog.Float(math.Inf(1)), changelog.Float(math.Inf(-1)), changelog.Float(9007199254740993),
	changelog.String(""), changelog.String("1"), changelog.String("1.0"), changelog.String("NULL"),
	changelog.String("x'00'"), changelog.String("it's \"quoted\"\n\ttabbed ünïcødé 表 🙂"),
	changelog.Bytes([]byte{}), changelog.Bytes([]byte{0}), changelog.Bytes([]byte("1")), changelog.Bytes([]byte{0xff, 0xfe, 0}),
}

func randomValue(r *rand.Rand) changelog.Value {
	switch r.IntN(6) {
	case 0:
		return changelog.NullValue()
	case 1:
		return changelog.Int64(int64(r.Uint64()))
	case 2:
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) { // SQLite stores no NaN
			f = r.NormFloat64()
		}
		return changelog.Float(f)
	case 3:
		b := make([]rune, r.IntN(20))
		for i := range b {
			b[i] = rune(1 + r.IntN(0x2FFFF))
			if b[i] >= 0xD800 && b[i] <= 0xDFFF {
				b[i] = 'x'
			}
		}
		return changelog.String(string(b))
	case 4:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return changelog.Bytes(b)
	}
	return edgeValues[r.IntN(len(edgeValues))]
}

// TestValueFidelity writes values of every storage class through the
// triggers and checks that the log decodes to exactly the same values, and
// that their JSON form round-trips exactly.
func TestValueFidelity(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE v(id INTEGER PRIMARY KEY, a, b)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var want [][2]changelog.Value
	tx := db.MustBegin()
	for i := 0; i < 2000; i++ {
		a, b := randomValue(r), randomValue(r)
		if i < len(edgeValues) {
			a = edgeValues[i]
		}
		tx.MustExec(`INSERT INTO v VALUES (?, ?, ?)`, i, a.SQL(), b.SQL())
		want = append(want, [2]changelog.Value{a, b})
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	cs := testutil.Changes(t, db)
	if len(cs) != len(want) {
		t.Fatalf("want %d changes, got %d", len(want), len(cs))
	}
	for i, c := range cs {
		for j, cell := range c.Set {
			if !cell.Value.Equal(want[i][j]) {
				t.Fatalf("row %d column %s: wrote %v, log holds %v", i, cell.Column, want[i][j], cell.Value)
			}
			js, err := json.Marshal(cell.Value)
			if err != nil {
				t.Fatal(err)
			}
			var back changelog.Value
			if err := json.Unmarshal(js, &back); err != nil || !back.Equal(cell.Value) {
				t.Fatalf("JSON %s of %v came back as %v (%v)", js, cell.Value, back, err)
			}
		}
	}
}

func TestValueJSONIsExplicit(t *testing.T) {
	for v, want := range map[*changelog.Value]string{
		&edgeValues[0]: `null`, &edgeValues[4]: `"i:9223372036854775807"`, &edgeValues[7]: `"r:-0"`,
		&edgeValues[13]: `"r:+Inf"`, &edgeValues[16]: `"t:"`, &edgeValues[22]: `"b:"`, &edgeValues[25]: `"b://4A"`,
	} {
		got, _ := json.Marshal(*v)
		if string(got) != want {
			t.Errorf("%v: got %s want %s", *v, got, want)
		}
	}
	for _, bad := range []string{`1`, `"1"`, `"x:1"`, `"i:1.5"`, `"i:99999999999999999999"`, `"r:NaN"`, `"b:!!"`, `"b:AA"`, `{}`, `"i:"`} {
		var v changelog.Value
		err := json.Unmarshal([]byte(bad), &v)
		if err == nil || !strings.Contains(err.Error(), "value") {
			t.Errorf("%s: want a clear error, got %v", bad, err)
		}
	}
}

// FuzzValueJSON: decoding never panics, and whatever decodes re-encodes to
// a form that decodes to the same value.
func FuzzValueJSON(f *testing.F) {
	for _, v := range edgeValues {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v changelog.Value
		if json.Unmarshal(b, &v) != nil {
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var w changelog.Value
		if err := json.Unmarshal(again, &w); err != nil || !w.Equal(v) {
			t.Fatalf("%s → %v → %s → %v (%v)", b, v, again, w, err)
		}
	})
}
