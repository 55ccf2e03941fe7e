package verify

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/schema"
)

// DB is the Source of a database: the tables its active descriptions in
// _trigsync_tables replicate, with their columns as the schema has them
// now (generated columns left out). Every name put into SQL comes from the
// schema, quoted. Each call reads in one read transaction, so writers go on.
type DB struct {
	db     *sqlx.DB
	list   []Table
	byName map[string]*dbTable // lower-case name
}

type dbTable struct {
	Table
	sel   string // SELECT list: the columns in canonical order
	from  string // the quoted table name
	key   string // the key as an SQL expression: "k" or "(k1, k2)"
	order string // ORDER BY list
}

// NewDB reads the replicated tables of db.
func NewDB(ctx context.Context, db *sqlx.DB) (*DB, error) {
	descs, err := changelog.ActiveDescriptions(ctx, db)
	if err != nil {
		return nil, err
	}
	tables, err := schema.Tables(ctx, db)
	if err != nil {
		return nil, err
	}
	live := make(map[string]schema.Table, len(tables))
	for _, t := range tables {
		if t.Kind == schema.KindTable && !t.Internal() && !strings.HasPrefix(strings.ToLower(t.Name), changelog.Prefix) {
			live[strings.ToLower(t.Name)] = t
		}
	}
	d := &DB{db: db, byName: map[string]*dbTable{}}
	for _, desc := range descs {
		st, ok := live[strings.ToLower(desc.Table)]
		if !ok {
			continue // not a table of this schema: not replicated here
		}
		t := &dbTable{Table: Table{Name: st.Name}, from: schema.Quote(st.Name)}
		for _, c := range st.PrimaryKey() {
			t.Key = append(t.Key, c.Name)
		}
		if len(t.Key) == 0 {
			continue
		}
		for _, c := range st.Columns {
			if !c.Generated() {
				t.Columns = append(t.Columns, c.Name)
			}
		}
		Canonical(t.Columns)
		sel := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			// A unary + is a no-op that leaves the result without a
			// declared type: the driver would read TEXT of a DATETIME
			// column as a time.Time.
			sel[i] = "+" + schema.Quote(c)
		}
		t.sel = strings.Join(sel, ", ")
		keys := make([]string, len(t.Key))
		for i, k := range t.Key {
			keys[i] = schema.Quote(k)
		}
		t.order = strings.Join(keys, ", ")
		t.key = keys[0]
		if len(keys) > 1 {
			t.key = "(" + t.order + ")"
		}
		d.byName[strings.ToLower(t.Name)] = t
		d.list = append(d.list, t.Table)
	}
	sortTables(d.list)
	return d, nil
}

func sortTables(ts []Table) {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	Canonical(names)
	byName := make(map[string]Table, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	for i, n := range names {
		ts[i] = byName[n]
	}
}

// Tables returns the replicated tables, sorted by name.
func (d *DB) Tables(context.Context) ([]Table, error) { return d.list, nil }

func (d *DB) table(name string) (*dbTable, error) {
	t, ok := d.byName[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, ErrNotReplicated)
	}
	return t, nil
}

// ErrNotReplicated is returned for a table this side does not replicate.
var ErrNotReplicated = fmt.Errorf("not a replicated table")

// ErrBadRange is returned for a range whose bounds are not keys of the table.
var ErrBadRange = fmt.Errorf("bad range")

// where returns the condition selecting r's rows and its arguments.
func (t *dbTable) where(r Range) (string, []any, error) {
	var conds []string
	var args []any
	for _, b := range []struct {
		k  Key
		op string
	}{{r.After, ">"}, {r.Through, "<="}} {
		if b.k == nil {
			continue
		}
		if len(b.k) != len(t.Key) {
			return "", nil, fmt.Errorf("%w: a bound of %d values for a key of %d columns", ErrBadRange, len(b.k), len(t.Key))
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(b.k)), ", ")
		if len(b.k) > 1 {
			ph = "(" + ph + ")"
		}
		conds = append(conds, t.key+" "+b.op+" "+ph)
		for _, v := range b.k {
			args = append(args, v.SQL())
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// read runs f in a read transaction.
func (d *DB) read(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	tx, err := d.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN: writers go on
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return f(tx)
}

// Split returns the keys that divide each range by position (Source).
func (d *DB) Split(ctx context.Context, table string, ranges []Range, parts int) ([][]Key, error) {
	t, err := d.table(table)
	if err != nil {
		return nil, err
	}
	parts = max(1, min(parts, MaxParts))
	out := make([][]Key, len(ranges))
	err = d.read(ctx, func(tx *sqlx.Tx) error {
		for i, r := range ranges {
			if out[i], err = t.split(ctx, tx, r, parts); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (t *dbTable) split(ctx context.Context, tx *sqlx.Tx, r Range, parts int) ([]Key, error) {
	where, args, err := t.where(r)
	if err != nil {
		return nil, err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.from+where, args...).Scan(&n); err != nil {
		return nil, fmt.Errorf("count rows of %s: %w", t.from, err)
	}
	if n < 2 || parts < 2 {
		return nil, nil
	}
	per := (n + int64(parts) - 1) / int64(parts)
	// The keys alone, in order; every per-th ends a part. (Numbering the
	// rows with row_number() in SQLite cost twice as much as the digest.)
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = "+" + schema.Quote(k)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(keys, ", ")+" FROM "+t.from+where+" ORDER BY "+t.order, args...)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", t.from, err)
	}
	defer rows.Close()
	vals := make([]any, len(t.Key))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []Key
	for i := int64(1); rows.Next() && i < n; i++ {
		if i%per != 0 {
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("split %s: %w", t.from, err)
		}
		k := make(Key, len(vals))
		for j, v := range vals {
			if k[j], err = changelog.FromSQL(v); err != nil {
				return nil, err
			}
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("split %s: %w", t.from, err)
	}
	return out, nil
}

// Digests summarises each range (Source).
func (d *DB) Digests(ctx context.Context, table string, ranges []Range) ([]Digest, error) {
	t, err := d.table(table)
	if err != nil {
		return nil, err
	}
	out := make([]Digest, len(ranges))
	err = d.read(ctx, func(tx *sqlx.Tx) error {
		for i, r := range ranges {
			if out[i], err = t.digest(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (t *dbTable) digest(ctx context.Context, tx *sqlx.Tx, r Range) (Digest, error) {
	var dg Digest
	where, args, err := t.where(r)
	if err != nil {
		return dg, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+t.sel+" FROM "+t.from+where+" ORDER BY "+t.order, args...)
	if err != nil {
		return dg, fmt.Errorf("read %s: %w", t.from, err)
	}
	defer rows.Close()
	vals := make([]any, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	h := xxhash.New()
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return dg, fmt.Errorf("read %s: %w", t.from, err)
		}
		buf = buf[:0]
		for _, v := range vals {
			if buf, err = appendRaw(buf, v); err != nil {
				return dg, fmt.Errorf("read %s: %w", t.from, err)
			}
		}
		h.Write(buf)
		dg.Rows++
	}
	if err := rows.Err(); err != nil {
		return dg, fmt.Errorf("read %s: %w", t.from, err)
	}
	dg.Hash = h.Sum64()
	return dg, nil
}

// Rows returns the rows of each range (Source).
func (d *DB) Rows(ctx context.Context, table string, ranges []Range, limit int) ([][]Row, error) {
	t, err := d.table(table)
	if err != nil {
		return nil, err
	}
	limit = max(1, min(limit, MaxRowsLimit))
	out := make([][]Row, len(ranges))
	err = d.read(ctx, func(tx *sqlx.Tx) error {
		for i, r := range ranges {
			where, args, err := t.where(r)
			if err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, "SELECT "+t.sel+" FROM "+t.from+where+" ORDER BY "+t.order+
				fmt.Sprintf(" LIMIT %d", limit), args...)
			if err != nil {
				return fmt.Errorf("read %s: %w", t.from, err)
			}
			out[i], err = scanRows(rows, len(t.Columns))
			if err != nil {
				return fmt.Errorf("read %s: %w", t.from, err)
			}
		}
		return nil
	})
	return out, err
}

func scanRows(rows *sql.Rows, n int) ([]Row, error) {
	defer rows.Close()
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := []Row{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := make(Row, n)
		for i, v := range vals {
			var err error
			if r[i], err = changelog.FromSQL(v); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
