// Package schema reads the tables and columns of a SQLite database and
// quotes identifiers. Every name trigsync puts into SQL comes from here.
package schema

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Kind is what PRAGMA table_list calls a schema object's type.
type Kind string

// The kinds of table SQLite reports.
const (
	KindTable   Kind = "table"
	KindVirtual Kind = "virtual"
	KindShadow  Kind = "shadow"
	KindView    Kind = "view"
)

// Affinity is a column's type affinity (SQLite's "Datatypes In SQLite", 3.1).
type Affinity string

// The five affinities, plus ANY for STRICT tables, which stores values as given.
const (
	AffinityInteger Affinity = "INTEGER"
	AffinityText    Affinity = "TEXT"
	AffinityBlob    Affinity = "BLOB"
	AffinityReal    Affinity = "REAL"
	AffinityNumeric Affinity = "NUMERIC"
	AffinityAny     Affinity = "ANY"
)

// Column is one column of a table.
type Column struct {
	Name    string
	Type    string // declared type, as written
	NotNull bool
	PK      int // 1-based position in the primary key; 0 when not part of it
	Hidden  int // PRAGMA table_xinfo: 0 normal, 1 hidden, 2 and 3 generated
	// Default is the default value's SQL expression as the schema
	// declares it; nil when the column has none (its default is NULL).
	// Not part of a table's fingerprint.
	Default *string `json:"-"`
}

// Generated reports whether the column is computed by SQLite (and so is
// never written by a client or the applier).
func (c Column) Generated() bool { return c.Hidden == 2 || c.Hidden == 3 }

// Table is one table of the main schema.
type Table struct {
	Name         string
	Kind         Kind
	WithoutRowid bool
	Strict       bool
	Columns      []Column
}

// Affinity returns the column's affinity in table t.
func (t Table) Affinity(c Column) Affinity {
	if t.Strict && strings.EqualFold(c.Type, "ANY") {
		return AffinityAny
	}
	ty := strings.ToUpper(c.Type)
	switch {
	case strings.Contains(ty, "INT"):
		return AffinityInteger
	case strings.Contains(ty, "CHAR"), strings.Contains(ty, "CLOB"), strings.Contains(ty, "TEXT"):
		return AffinityText
	case ty == "", strings.Contains(ty, "BLOB"):
		return AffinityBlob
	case strings.Contains(ty, "REAL"), strings.Contains(ty, "FLOA"), strings.Contains(ty, "DOUB"):
		return AffinityReal
	}
	return AffinityNumeric
}

// PrimaryKey returns the declared primary-key columns in key order; none for
// a rowid table without a declared key.
func (t Table) PrimaryKey() []Column {
	var pk []Column
	for i := 1; ; i++ {
		n := len(pk)
		for _, c := range t.Columns {
			if c.PK == i {
				pk = append(pk, c)
			}
		}
		if len(pk) == n {
			return pk
		}
	}
}

// RowidKey reports whether the primary key is an alias of the rowid
// (INTEGER PRIMARY KEY), whose values SQLite picks locally unless given.
func (t Table) RowidKey() bool {
	pk := t.PrimaryKey()
	return !t.WithoutRowid && len(pk) == 1 && strings.EqualFold(pk[0].Type, "INTEGER")
}

// Internal reports whether the table belongs to SQLite itself.
func (t Table) Internal() bool { return strings.HasPrefix(strings.ToLower(t.Name), "sqlite_") }

// Column returns the named column, matched as SQLite matches names
// (ASCII case-insensitively).
func (t Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// Tables returns every table and view of the main schema, sorted by name.
func Tables(ctx context.Context, q sqlx.QueryerContext) ([]Table, error) {
	var rows []struct {
		Name   string `db:"name"`
		Type   string `db:"type"`
		Wr     bool   `db:"wr"`
		Strict bool   `db:"strict"`
	}
	err := sqlx.SelectContext(ctx, q, &rows,
		`SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables := make([]Table, 0, len(rows))
	for _, r := range rows {
		t := Table{Name: r.Name, Kind: Kind(r.Type), WithoutRowid: r.Wr, Strict: r.Strict}
		if t.Kind == KindTable || t.Kind == KindView {
			if t.Columns, err = columns(ctx, q, r.Name); err != nil {
				return nil, err
			}
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// Lookup returns the table of the main schema named name (matched as SQLite
// matches names).
func Lookup(ctx context.Context, q sqlx.QueryerContext, name string) (Table, error) {
	return (*Cache)(nil).Lookup(ctx, q, name)
}

// Lookup is the package's Lookup, through the cache.
func (c *Cache) Lookup(ctx context.Context, q sqlx.QueryerContext, name string) (Table, error) {
	tables, err := c.Tables(ctx, q)
	if err != nil {
		return Table{}, err
	}
	for _, t := range tables {
		if strings.EqualFold(t.Name, name) && t.Kind == KindTable {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("table %s does not exist", Quote(name))
}

func columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]Column, error) {
	var cols []Column
	rows, err := q.QueryxContext(ctx,
		`SELECT name, type, "notnull", pk, hidden, dflt_value FROM pragma_table_xinfo(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", Quote(table), err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.PK, &c.Hidden, &c.Default); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", Quote(table), err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s: %w", Quote(table), err)
	}
	return cols, nil
}

// Quote returns name as a double-quoted SQL identifier.
func Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Fingerprint is a hash of the whole schema (every row of sqlite_schema):
// two reads give the same one only when the schema is the same, within a
// transaction that changed it and rolled back, or in a file restored from
// a copy, as anywhere.
func Fingerprint(ctx context.Context, q sqlx.QueryerContext) (uint64, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, name, tbl_name, ifnull(sql, '') FROM sqlite_schema ORDER BY rowid`)
	if err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	defer rows.Close()
	h := fnv.New64a()
	for rows.Next() {
		var typ, name, tbl, sql string
		if err := rows.Scan(&typ, &name, &tbl, &sql); err != nil {
			return 0, fmt.Errorf("read the schema: %w", err)
		}
		for _, s := range []string{typ, name, tbl, sql} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	return h.Sum64(), nil
}

// Cache keeps what Tables read for one schema (Fingerprint): a node
// applying many small pushes reads its schema's columns once per change of
// it. The zero value is ready; a nil *Cache reads every time. The tables
// it returns are shared: callers do not change them.
type Cache struct {
	mu     sync.Mutex
	print  uint64
	tables []Table
}

// Tables is the package's Tables, from the cache while the schema is the
// one read last.
func (c *Cache) Tables(ctx context.Context, q sqlx.QueryerContext) ([]Table, error) {
	if c == nil {
		return Tables(ctx, q)
	}
	print, err := Fingerprint(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tables != nil && c.print == print {
		return c.tables, nil
	}
	tables, err := Tables(ctx, q)
	if err != nil {
		return nil, err
	}
	c.print, c.tables = print, tables
	return tables, nil
}
