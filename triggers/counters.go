package triggers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/schema"
)

// ErrCounter means a column cannot be a counter: it is missing, part of
// the primary key, or not numeric.
var ErrCounter = errors.New("not a counter column")

// Counters are counter columns by table (docs/MERGE.md, "Counter
// columns"), as install remembers them in _trigsync_meta.
type Counters map[string][]string

// StoredCounters returns the counter columns install and migrate declared.
func StoredCounters(ctx context.Context, q sqlx.QueryerContext) (Counters, error) {
	c := Counters{}
	var b string
	err := sqlx.GetContext(ctx, q, &b, `SELECT value FROM _trigsync_meta WHERE key = 'counters'`)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(b), &c)
	}
	if err != nil {
		return c, fmt.Errorf("read counter columns: %w", err)
	}
	return c, nil
}

// StoreCounters records c as the database's counter columns.
func StoreCounters(ctx context.Context, tx *sqlx.Tx, c Counters) error {
	for t := range c {
		sort.Strings(c[t])
	}
	b, _ := json.Marshal(c)
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_meta(key, value) VALUES ('counters', ?)`, string(b)); err != nil {
		return fmt.Errorf("store counter columns: %w", err)
	}
	return nil
}

// Add adds column of table, unless it is there (names match as SQLite
// matches them), and reports whether it added it.
func (c Counters) Add(table, column string) bool {
	for t, cols := range c {
		if strings.EqualFold(t, table) {
			if slices.ContainsFunc(cols, func(s string) bool { return strings.EqualFold(s, column) }) {
				return false
			}
			c[t] = append(cols, column)
			return true
		}
	}
	c[table] = []string{column}
	return true
}

// Of returns the counter columns of table.
func (c Counters) Of(table string) []string {
	var out []string
	for t, cols := range c {
		if strings.EqualFold(t, table) {
			out = append(out, cols...)
		}
	}
	return out
}

// CheckCounter says why column of table t cannot be a counter, or nil.
func CheckCounter(t schema.Table, column string) error {
	col, ok := t.Column(column)
	switch {
	case !ok:
		return fmt.Errorf("%w: %s has no column %s", ErrCounter, schema.Quote(t.Name), schema.Quote(column))
	case col.PK != 0:
		return fmt.Errorf("%w: %s.%s is part of the primary key, which identifies the row and cannot count", ErrCounter, schema.Quote(t.Name), schema.Quote(col.Name))
	case col.Generated():
		return fmt.Errorf("%w: %s.%s is a generated column: each node computes it", ErrCounter, schema.Quote(t.Name), schema.Quote(col.Name))
	}
	switch aff := t.Affinity(col); aff {
	case schema.AffinityInteger, schema.AffinityReal, schema.AffinityNumeric:
		return nil
	default:
		return fmt.Errorf("%w: %s.%s is declared %q (%s affinity); a counter needs a numeric column (INTEGER, REAL or NUMERIC affinity: declare it INTEGER, say)",
			ErrCounter, schema.Quote(t.Name), schema.Quote(col.Name), col.Type, aff)
	}
}

// counterColumns adds the columns given to the stored counters, checks
// those of the replicated tables, stores them, and returns them by
// lower-case table name.
func counterColumns(ctx context.Context, tx *sqlx.Tx, add map[string][]string, replicated []schema.Table) (map[string][]string, error) {
	stored, err := StoredCounters(ctx, tx)
	if err != nil {
		return nil, err
	}
	changed := false
	byName := map[string]schema.Table{}
	for _, t := range replicated {
		byName[strings.ToLower(t.Name)] = t
	}
	for table, cols := range add {
		t, ok := byName[strings.ToLower(table)]
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a replicated table", ErrCounter, schema.Quote(table))
		}
		for _, c := range cols {
			if err := CheckCounter(t, c); err != nil {
				return nil, err
			}
			col, _ := t.Column(c)
			changed = stored.Add(t.Name, col.Name) || changed
		}
	}
	out := map[string][]string{}
	for _, t := range replicated {
		for _, c := range stored.Of(t.Name) {
			if err := CheckCounter(t, c); err != nil {
				return nil, err
			}
			out[strings.ToLower(t.Name)] = append(out[strings.ToLower(t.Name)], c)
		}
	}
	if changed {
		if err := StoreCounters(ctx, tx, stored); err != nil {
			return nil, err
		}
	}
	return out, nil
}
