// Package changelog owns trigsync's on-disk format (docs/FORMAT.md): table
// descriptions, the node id, the clock, the value slots of the log, and the
// reading and decoding of log rows. It knows nothing of transport.
package changelog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/schema"
)

// Names of trigsync's own objects.
const (
	Prefix     = "_trigsync_"
	LogTable   = "_trigsync_changelog"
	ClockTable = "_trigsync_clock"
)

// Format is the on-disk format version this package reads and writes.
const Format = 1

// MaskBits is how many slots one mask column covers.
const MaskBits = 64

// Column is one slot of a table description.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	PK   int    `json:"pk"`
	// Counter marks a counter column (install --counter, docs/MERGE.md,
	// "Counter columns"): its updates are logged as deltas (op A).
	Counter bool `json:"counter,omitempty"`
}

// Description is a replicated table's column layout at one point of its
// history; log rows reference it by ID.
type Description struct {
	ID          int64
	Table       string
	Columns     []Column
	Fingerprint string
	Active      bool
	// SchemaVersion is the schema version the layout belongs to: the
	// changes written with it were made on that version.
	SchemaVersion int64
}

// Describe returns the description of t as it is now (without an ID).
// Generated columns get no slot.
func Describe(t schema.Table) Description {
	d := Description{Table: t.Name}
	for _, c := range t.Columns {
		if c.Generated() {
			continue
		}
		d.Columns = append(d.Columns, Column{Name: c.Name, Type: c.Type, PK: c.PK})
	}
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Table        string
		WithoutRowid bool
		Strict       bool
		Columns      []schema.Column
	}{t.Name, t.WithoutRowid, t.Strict, t.Columns})
	d.Fingerprint = hex.EncodeToString(h.Sum(nil))
	return d
}

// WithCounters returns d with the columns named in counters (matched as
// SQLite matches names) marked as counters and the others not.
func (d Description) WithCounters(counters []string) Description {
	cols := make([]Column, len(d.Columns))
	for i, c := range d.Columns {
		c.Counter = false
		for _, name := range counters {
			c.Counter = c.Counter || strings.EqualFold(name, c.Name)
		}
		cols[i] = c
	}
	d.Columns = cols
	return d
}

// SameCounters reports whether d and o mark the same columns as counters.
func (d Description) SameCounters(o Description) bool {
	if len(d.Columns) != len(o.Columns) {
		return false
	}
	for i := range d.Columns {
		if d.Columns[i].Counter != o.Columns[i].Counter {
			return false
		}
	}
	return true
}

// Counters returns the names of d's counter columns.
func (d Description) Counters() []string {
	var out []string
	for _, c := range d.Columns {
		if c.Counter {
			out = append(out, c.Name)
		}
	}
	return out
}

// KeySlots returns the slots of the primary key, in key order.
func (d Description) KeySlots() []int {
	var slots []int
	for pos := 1; ; pos++ {
		n := len(slots)
		for i, c := range d.Columns {
			if c.PK == pos {
				slots = append(slots, i)
			}
		}
		if len(slots) == n {
			return slots
		}
	}
}

// Descriptions returns every stored description by ID.
func Descriptions(ctx context.Context, q sqlx.QueryerContext) (map[int64]Description, error) {
	var rows []struct {
		ID            int64  `db:"id"`
		Name          string `db:"name"`
		Columns       string `db:"columns"`
		Fingerprint   string `db:"fingerprint"`
		Active        bool   `db:"active"`
		SchemaVersion int64  `db:"schema_version"`
	}
	// Every column, so that read-only commands also read the layout of
	// metadata before version 4 (without schema_version).
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT * FROM _trigsync_tables`); err != nil {
		return nil, fmt.Errorf("read table descriptions: %w", err)
	}
	out := make(map[int64]Description, len(rows))
	for _, r := range rows {
		d := Description{ID: r.ID, Table: r.Name, Fingerprint: r.Fingerprint, Active: r.Active, SchemaVersion: r.SchemaVersion}
		if err := json.Unmarshal([]byte(r.Columns), &d.Columns); err != nil {
			return nil, fmt.Errorf("table description %d of %s: %w", r.ID, schema.Quote(r.Name), err)
		}
		out[r.ID] = d
	}
	return out, nil
}

// ActiveDescriptions returns the active description of each replicated table.
func ActiveDescriptions(ctx context.Context, q sqlx.QueryerContext) (map[string]Description, error) {
	all, err := Descriptions(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Description)
	for _, d := range all {
		if d.Active {
			out[d.Table] = d
		}
	}
	return out, nil
}

// Activate stores d as the active description of its table, deactivating the
// table's previous one, and returns d with its new ID and the database's
// current schema version.
func Activate(ctx context.Context, tx *sqlx.Tx, d Description) (Description, error) {
	if err := Deactivate(ctx, tx, d.Table); err != nil {
		return d, err
	}
	cols, err := json.Marshal(d.Columns)
	if err != nil {
		return d, fmt.Errorf("describe %s: %w", schema.Quote(d.Table), err)
	}
	if d.SchemaVersion, err = CurrentSchema(ctx, tx); err != nil {
		return d, err
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO _trigsync_tables(name, columns, fingerprint, active, schema_version) VALUES (?, ?, ?, 1, ?)`,
		d.Table, string(cols), d.Fingerprint, d.SchemaVersion)
	if err != nil {
		return d, fmt.Errorf("store description of %s: %w", schema.Quote(d.Table), err)
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return d, fmt.Errorf("store description of %s: %w", schema.Quote(d.Table), err)
	}
	d.Active = true
	return d, nil
}

// Deactivate marks table's descriptions as history: it is no longer replicated.
func Deactivate(ctx context.Context, tx *sqlx.Tx, table string) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE _trigsync_tables SET active = 0 WHERE name = ? AND active`, table); err != nil {
		return fmt.Errorf("deactivate description of %s: %w", schema.Quote(table), err)
	}
	return nil
}

// EnsureSlots gives the log at least n value slots and the mask columns
// covering them. Column names are generated here, never taken from input.
func EnsureSlots(ctx context.Context, tx *sqlx.Tx, n int) error {
	var have []string
	if err := sqlx.SelectContext(ctx, tx, &have,
		`SELECT name FROM pragma_table_info('`+LogTable+`')`); err != nil {
		return fmt.Errorf("read changelog columns: %w", err)
	}
	exists := make(map[string]bool, len(have))
	for _, c := range have {
		exists[c] = true
	}
	for i := 0; i < n; i++ {
		for _, col := range []string{MaskColumn(i / MaskBits), ValueColumn(i)} {
			if exists[col] {
				continue
			}
			typ := ""
			if col[0] == 'm' {
				typ = " INTEGER"
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+LogTable+` ADD COLUMN `+col+typ); err != nil {
				return fmt.Errorf("add changelog column %s: %w", col, err)
			}
			exists[col] = true
		}
	}
	return nil
}

// ValueColumn is the log column of value slot i.
func ValueColumn(i int) string { return fmt.Sprintf("v%d", i) }

// MaskColumn is the log column of update mask k (slots 64k to 64k+63).
func MaskColumn(k int) string { return fmt.Sprintf("m%d", k) }
