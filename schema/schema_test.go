package schema_test

import (
	"testing"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/schema"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{`a`: `"a"`, `we"ird`: `"we""ird"`, `""`: `""""""`, `表 x`: `"表 x"`} {
		if got := schema.Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestTablesAndAffinity(t *testing.T) {
	db, _ := testutil.NewDB(t,
		`CREATE TABLE t(a INT, b VARCHAR(10), c, d DOUBLE PRECISION, e DECIMAL(5,2), f BLOB, PRIMARY KEY (c, a))`,
		`CREATE TABLE s(id INTEGER PRIMARY KEY, x ANY) STRICT`,
		`CREATE TABLE w(k TEXT PRIMARY KEY, g AS (k || 'x')) WITHOUT ROWID`,
		`CREATE VIEW v AS SELECT 1`)
	tables, err := schema.Tables(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]schema.Table{}
	for _, tb := range tables {
		byName[tb.Name] = tb
	}
	tb := byName["t"]
	want := []schema.Affinity{schema.AffinityInteger, schema.AffinityText, schema.AffinityBlob,
		schema.AffinityReal, schema.AffinityNumeric, schema.AffinityBlob}
	for i, c := range tb.Columns {
		if got := tb.Affinity(c); got != want[i] {
			t.Errorf("column %s %q: affinity %s, want %s", c.Name, c.Type, got, want[i])
		}
	}
	if pk := tb.PrimaryKey(); len(pk) != 2 || pk[0].Name != "c" || pk[1].Name != "a" || tb.RowidKey() {
		t.Errorf("primary key of t: %+v", pk)
	}
	s := byName["s"]
	if !s.Strict || !s.RowidKey() || s.Affinity(s.Columns[1]) != schema.AffinityAny {
		t.Errorf("s: %+v", s)
	}
	w := byName["w"]
	if !w.WithoutRowid || w.RowidKey() || !w.Columns[1].Generated() {
		t.Errorf("w: %+v", w)
	}
	if byName["v"].Kind != schema.KindView {
		t.Errorf("v: %+v", byName["v"])
	}
	if c, ok := tb.Column("B"); !ok || c.Name != "b" {
		t.Errorf("Column matches names case-insensitively: %+v %v", c, ok)
	}
}
