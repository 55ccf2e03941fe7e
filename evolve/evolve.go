// Package evolve changes the schema of a replicated database by a
// migration (docs/MIGRATIONS.md): it checks each statement against the
// local schema, runs it, makes the triggers and table descriptions anew
// and records the schema version. The same code runs a migration made here
// and one received from a peer, so that every node's schema takes the same
// steps.
package evolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/ddl"
	"github.com/trigsync/trigsync/schema"
	"github.com/trigsync/trigsync/triggers"
)

// ErrRefused means a migration cannot run on this database: a statement
// names what does not exist, creates what does, or SQLite refused it.
// Nothing of the migration was applied.
var ErrRefused = errors.New("migration refused")

// Apply runs migration m in tx, after the versions before it: it checks
// and runs each statement, makes the triggers again (descriptions of the
// tables that changed belong to m.Version) and records m. It returns the
// statements run. On error the caller rolls back, to a savepoint or the
// whole transaction: Apply may have run some statements.
func Apply(ctx context.Context, tx *sqlx.Tx, m changelog.AppliedMigration) ([]ddl.Statement, error) {
	return apply(ctx, tx, m, true)
}

// Adopt records migration m, whose statements were already made by hand,
// and makes the triggers again.
func Adopt(ctx context.Context, tx *sqlx.Tx, m changelog.AppliedMigration) ([]ddl.Statement, error) {
	return apply(ctx, tx, m, false)
}

func apply(ctx context.Context, tx *sqlx.Tx, m changelog.AppliedMigration, run bool) ([]ddl.Statement, error) {
	if changelog.Checksum(m.SQL) != m.Checksum {
		return nil, fmt.Errorf("%w: schema version %d: its checksum does not match its SQL", ErrRefused, m.Version)
	}
	stmts, err := ddl.Parse(m.SQL)
	if err != nil {
		return nil, fmt.Errorf("%w: schema version %d: %w", ErrRefused, m.Version, err)
	}
	current, err := changelog.CurrentSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	if m.Version != current+1 {
		return nil, fmt.Errorf("%w: schema version %d does not follow this database's version %d", ErrRefused, m.Version, current)
	}
	shared, err := sharedTables(ctx, tx, m.Version)
	if err != nil {
		return nil, err
	}
	if err := changelog.RecordMigration(ctx, tx, m); err != nil {
		return nil, err
	}
	// The triggers name every captured column: DROP COLUMN and RENAME need
	// them out of the way. InstallTx below makes them again.
	if err := triggers.DropTriggers(ctx, tx); err != nil {
		return nil, err
	}
	for i, st := range stmts {
		if !run { // adopted: made by hand already
			break
		}
		if err := runStatement(ctx, tx, st, shared); err != nil {
			return nil, fmt.Errorf("%w: schema version %d, statement %d (%.60s): %w", ErrRefused, m.Version, i+1, st.SQL, err)
		}
		share(shared, st)
	}
	if err := followCounters(ctx, tx, stmts); err != nil {
		return nil, err
	}
	sel, err := triggers.StoredSelection(ctx, tx)
	if err != nil {
		return nil, err
	}
	opts := triggers.Options{}
	if followed, changed := follow(sel, stmts); changed {
		opts.Selection = &followed
	}
	if _, err := triggers.InstallTx(ctx, tx, opts); err != nil {
		return nil, fmt.Errorf("%w: schema version %d: %w", ErrRefused, m.Version, err)
	}
	return stmts, nil
}

// sharedTables returns the (lower-case) names of the tables a migration
// may change: the replicated ones, and those earlier schema versions
// created (shared schema, even where a node's selection leaves their rows
// out). A peer's migration cannot touch a table a node keeps to itself.
func sharedTables(ctx context.Context, tx *sqlx.Tx, before int64) (map[string]bool, error) {
	active, err := changelog.ActiveDescriptions(ctx, tx)
	if err != nil {
		return nil, err
	}
	shared := map[string]bool{}
	for name := range active {
		shared[strings.ToLower(name)] = true
	}
	earlier, err := changelog.Migrations(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, m := range earlier {
		if m.Version >= before {
			break
		}
		stmts, err := ddl.Parse(m.SQL)
		if err != nil {
			return nil, fmt.Errorf("schema version %d: %w", m.Version, err)
		}
		for _, st := range stmts {
			share(shared, st)
		}
	}
	return shared, nil
}

// share follows statement st in the set of shared tables.
func share(shared map[string]bool, st ddl.Statement) {
	switch st.Kind {
	case ddl.CreateTable:
		shared[strings.ToLower(st.Table)] = true
	case ddl.RenameTable:
		if shared[strings.ToLower(st.Table)] {
			delete(shared, strings.ToLower(st.Table))
			shared[strings.ToLower(st.NewName)] = true
		}
	case ddl.DropTable:
		delete(shared, strings.ToLower(st.Table))
	}
}

// follow returns the table selection with the tables stmts rename renamed
// and those they drop left out, and whether that changed it: a renamed
// table stays selected (or excluded) under its new name.
func follow(sel triggers.Selection, stmts []ddl.Statement) (triggers.Selection, bool) {
	changed := false
	for _, st := range stmts {
		if st.Kind != ddl.RenameTable && st.Kind != ddl.DropTable {
			continue
		}
		for _, names := range []*[]string{&sel.Include, &sel.Exclude} {
			for i := 0; i < len(*names); i++ {
				if !strings.EqualFold((*names)[i], st.Table) {
					continue
				}
				changed = true
				if st.Kind == ddl.RenameTable {
					(*names)[i] = st.NewName
				} else {
					*names = slices.Delete(*names, i, i+1)
					i--
				}
			}
		}
	}
	return sel, changed
}

// followCounters makes the stored counter columns follow the renames of
// stmts, and forgets those they drop.
func followCounters(ctx context.Context, tx *sqlx.Tx, stmts []ddl.Statement) error {
	counters, err := triggers.StoredCounters(ctx, tx)
	if err != nil || len(counters) == 0 {
		return err
	}
	changed := false
	for _, st := range stmts {
		for table, cols := range counters {
			if !strings.EqualFold(table, st.Table) {
				continue
			}
			switch st.Kind {
			case ddl.RenameTable:
				delete(counters, table)
				counters[st.NewName] = cols
			case ddl.DropTable:
				delete(counters, table)
			case ddl.RenameColumn, ddl.DropColumn:
				for i := 0; i < len(cols); i++ {
					if !strings.EqualFold(cols[i], st.Column) {
						continue
					}
					if st.Kind == ddl.RenameColumn {
						cols[i] = st.NewName
					} else {
						cols = slices.Delete(cols, i, i+1)
						i--
					}
				}
				counters[table] = cols
			default:
				continue
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return triggers.StoreCounters(ctx, tx, counters)
}

// runStatement checks statement st against the schema as it is now, runs
// it, and checks what it added.
func runStatement(ctx context.Context, tx *sqlx.Tx, st ddl.Statement, shared map[string]bool) error {
	if err := check(ctx, tx, st, shared); err != nil {
		return err
	}
	if st.Kind == ddl.SetCounter { // trigsync's own: nothing for SQLite to run
		counters, err := triggers.StoredCounters(ctx, tx)
		if err != nil {
			return err
		}
		t, err := schema.Lookup(ctx, tx, st.Table)
		if err != nil {
			return err
		}
		col, _ := t.Column(st.Column)
		if counters.Add(t.Name, col.Name) {
			return triggers.StoreCounters(ctx, tx, counters)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, st.SQL); err != nil {
		return err
	}
	return checkAdded(ctx, tx, st)
}

// checkAdded refuses a column added NOT NULL without a default: SQLite
// adds one to an empty table only, so nodes holding rows would refuse it.
func checkAdded(ctx context.Context, q sqlx.QueryerContext, st ddl.Statement) error {
	if st.Kind != ddl.AddColumn {
		return nil
	}
	t, err := schema.Lookup(ctx, q, st.Table)
	if err != nil {
		return err
	}
	if c, ok := t.Column(st.Column); ok && c.NotNull && c.Default == nil && !c.Generated() {
		return fmt.Errorf("column %s is NOT NULL without a DEFAULT: SQLite adds such a column to an empty table only, and nodes holding rows would refuse it; give it a DEFAULT",
			schema.Quote(c.Name))
	}
	return nil
}

// check says why statement st cannot run on the schema as it is now, where
// shared holds the (lower-case) names of the tables a migration may change.
func check(ctx context.Context, q sqlx.QueryerContext, st ddl.Statement, shared map[string]bool) error {
	tables, err := schema.Tables(ctx, q)
	if err != nil {
		return err
	}
	var table *schema.Table
	for i, t := range tables {
		if strings.EqualFold(t.Name, st.Table) {
			table = &tables[i]
		}
	}
	if st.Kind == ddl.CreateTable {
		if table != nil {
			return fmt.Errorf("%s %s exists", table.Kind, schema.Quote(table.Name))
		}
		return nil
	}
	switch st.Kind {
	case ddl.DropIndex:
		return checkDropIndex(ctx, q, st, shared)
	case ddl.DropTrigger:
		on, err := objectTable(ctx, q, "trigger", st.Trigger)
		if err != nil {
			return err
		}
		if on == "" {
			return fmt.Errorf("there is no trigger %s", schema.Quote(st.Trigger))
		}
		if !shared[strings.ToLower(on)] {
			return notShared(on)
		}
		return nil
	}
	if table == nil || table.Kind != schema.KindTable {
		return fmt.Errorf("there is no table %s", schema.Quote(st.Table))
	}
	if !shared[strings.ToLower(table.Name)] {
		return notShared(table.Name)
	}
	has := func(col string) bool { _, ok := table.Column(col); return ok }
	switch st.Kind {
	case ddl.AddColumn:
		if has(st.Column) {
			return fmt.Errorf("table %s has a column %s already", schema.Quote(table.Name), schema.Quote(st.Column))
		}
	case ddl.RenameColumn:
		if !has(st.Column) {
			return fmt.Errorf("table %s has no column %s", schema.Quote(table.Name), schema.Quote(st.Column))
		}
		if has(st.NewName) && !strings.EqualFold(st.Column, st.NewName) {
			return fmt.Errorf("table %s has a column %s already", schema.Quote(table.Name), schema.Quote(st.NewName))
		}
	case ddl.DropColumn:
		c, ok := table.Column(st.Column)
		if !ok {
			return fmt.Errorf("table %s has no column %s", schema.Quote(table.Name), schema.Quote(st.Column))
		}
		if c.PK != 0 {
			return fmt.Errorf("column %s is part of the primary key of %s, which cannot change in place: create the new table, copy the rows with INSERT … SELECT and drop the old one",
				schema.Quote(c.Name), schema.Quote(table.Name))
		}
	case ddl.RenameTable:
		for _, t := range tables {
			if strings.EqualFold(t.Name, st.NewName) && !strings.EqualFold(t.Name, table.Name) {
				return fmt.Errorf("%s %s exists", t.Kind, schema.Quote(t.Name))
			}
		}
	case ddl.SetCounter:
		return triggers.CheckCounter(*table, st.Column)
	case ddl.CreateIndex:
		on, err := objectTable(ctx, q, "index", st.Index)
		if err != nil {
			return err
		}
		if on != "" {
			return fmt.Errorf("index %s exists", schema.Quote(st.Index))
		}
	case ddl.CreateTrigger:
		on, err := objectTable(ctx, q, "trigger", st.Trigger)
		if err != nil {
			return err
		}
		if on != "" {
			return fmt.Errorf("trigger %s exists", schema.Quote(st.Trigger))
		}
	}
	return nil
}

func checkDropIndex(ctx context.Context, q sqlx.QueryerContext, st ddl.Statement, shared map[string]bool) error {
	on, err := objectTable(ctx, q, "index", st.Index)
	if err != nil {
		return err
	}
	if on == "" {
		return fmt.Errorf("there is no index %s", schema.Quote(st.Index))
	}
	if !shared[strings.ToLower(on)] {
		return notShared(on)
	}
	return nil
}

// objectTable returns the table of the named index or trigger (typ); ""
// when there is none.
func objectTable(ctx context.Context, q sqlx.QueryerContext, typ, name string) (string, error) {
	var on string
	err := sqlx.GetContext(ctx, q, &on, `SELECT ifnull((SELECT tbl_name FROM sqlite_schema
		WHERE type = ? AND name = ? COLLATE NOCASE), '')`, typ, name)
	if err != nil {
		return "", fmt.Errorf("look up %s %s: %w", typ, schema.Quote(name), err)
	}
	return on, nil
}

func notShared(table string) error {
	return fmt.Errorf("table %s is not replicated on this node: a migration changes replicated tables only (change a local table with sqlite3)",
		schema.Quote(table))
}
