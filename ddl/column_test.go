package ddl

import "testing"

func TestColumnDefinition(t *testing.T) {
	create := `CREATE TABLE "my table" (
		id INTEGER PRIMARY KEY,
		"odd, name" TEXT DEFAULT 'a,b' CHECK ("odd, name" <> ''), -- a comment
		[price] NUMERIC(10, 2) NOT NULL DEFAULT (0),
		CONSTRAINT c UNIQUE (price),
		colour TEXT COLLATE NOCASE
	)`
	for column, want := range map[string]string{
		"id":        "id INTEGER PRIMARY KEY",
		"odd, name": `"odd, name" TEXT DEFAULT 'a,b' CHECK ("odd, name" <> '')`,
		"PRICE":     "[price] NUMERIC(10, 2) NOT NULL DEFAULT (0)",
		"colour":    "colour TEXT COLLATE NOCASE",
	} {
		got, err := ColumnDefinition(create, column)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", column, got, err, want)
		}
	}
	for _, column := range []string{"c", "constraint", "missing"} {
		if got, err := ColumnDefinition(create, column); err == nil {
			t.Errorf("%s: got %q, want an error", column, got)
		}
	}
}
