package applier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/ddl"
	"github.com/trigsync/trigsync/evolve"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/schema"
	"github.com/trigsync/trigsync/triggers"
)

// ErrSchemaConflict means a peer made another schema version of the same
// number first: this node's schema history lost (docs/MIGRATIONS.md,
// "Concurrent migrations"). Nothing of the exchange was applied.
var ErrSchemaConflict = errors.New("schema conflict")

// Migration is a schema version made on this node.
type Migration struct {
	changelog.AppliedMigration
	Statements []ddl.Statement
}

// MigrateOptions tune Migrate and Adopt.
type MigrateOptions struct {
	Now    time.Time // the wall clock the version is stamped from; zero: time.Now()
	DryRun bool      // do everything, then roll it back
}

// Migrate makes a schema version on this node, in one transaction: it
// integrates the log, logs the migration for peers, runs script (checked
// statement by statement against the schema), makes the triggers anew and
// moves the merge state along the renames and drops.
func Migrate(ctx context.Context, db *sqlx.DB, script string, opts MigrateOptions) (Migration, error) {
	stmts, err := ddl.Parse(script)
	if err != nil {
		return Migration{}, err
	}
	return migrate(ctx, db, opts, func(ctx context.Context, tx *sqlx.Tx) ([]ddl.Statement, error) {
		if err := triggers.CheckDrift(ctx, tx); err != nil {
			return nil, fmt.Errorf("migrate on top of it: %w", err)
		}
		return stmts, nil
	}, evolve.Apply)
}

// Adopt records as a schema version the changes made by hand to the
// replicated tables since their triggers were installed, as the
// statements that would have made them (evolve.Adoption); it runs nothing
// on this node's tables.
func Adopt(ctx context.Context, db *sqlx.DB, opts MigrateOptions) (Migration, error) {
	return migrate(ctx, db, opts, evolve.Adoption, evolve.Adopt)
}

func migrate(ctx context.Context, db *sqlx.DB, opts MigrateOptions,
	plan func(context.Context, *sqlx.Tx) ([]ddl.Statement, error),
	apply func(context.Context, *sqlx.Tx, changelog.AppliedMigration) ([]ddl.Statement, error),
) (Migration, error) {
	var m Migration
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return m, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if err := Integrate(ctx, tx, nil); err != nil {
		return m, err
	}
	stmts, err := plan(ctx, tx)
	if err != nil {
		return m, err
	}
	if m.Version, err = changelog.CurrentSchema(ctx, tx); err != nil {
		return m, err
	}
	m.Version++
	// A peer's next version held here (refused, or waiting for one before
	// it): a version made now would fork the history. A held version of a
	// number this node has is a fork's loser: no obstacle.
	var held struct {
		Version int64  `db:"version"`
		Error   string `db:"error"`
	}
	err = tx.GetContext(ctx, &held, `SELECT json_extract(change, '$.migration.version') AS version, error FROM _trigsync_conflicts
		WHERE resolved IS NULL AND kind = 'held' AND json_extract(change, '$.op') = 'S'
		AND json_extract(change, '$.migration.version') >= ? ORDER BY id LIMIT 1`, m.Version)
	if err == nil {
		return m, fmt.Errorf("%w: a peer's schema version %d is held here (%s); a migration made now would fork the schema history: "+
			"resolve it first (trigsync conflicts)", evolve.ErrRefused, held.Version, held.Error)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("migrate: look for held schema versions: %w", err)
	}
	m.SQL = ddl.Script(stmts)
	m.Checksum = changelog.Checksum(m.SQL)
	if m.Node, err = changelog.NodeID(ctx, tx); err != nil {
		return m, err
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if m.HLC, err = changelog.LogMigration(ctx, tx, m.Migration, opts.Now); err != nil {
		return m, err
	}
	if m.Statements, err = apply(ctx, tx, m.AppliedMigration); err != nil {
		return m, err
	}
	if err := moveState(ctx, tx, m.Statements); err != nil {
		return m, err
	}
	// Every node classifies the application's triggers by the same rule:
	// one it cannot decide would stop every peer's applies.
	if err := checkAppTriggers(ctx, tx); err != nil {
		return m, err
	}
	if opts.DryRun {
		return m, nil
	}
	if err := tx.Commit(); err != nil {
		return m, fmt.Errorf("migrate: commit: %w", err)
	}
	return m, nil
}

// moveState takes the merge state along a migration's renames and drops:
// it is keyed by table and column names.
func moveState(ctx context.Context, x sqlx.ExecerContext, stmts []ddl.Statement) error {
	for _, st := range stmts {
		var qs []string
		var args []any
		switch st.Kind {
		case ddl.RenameTable:
			qs = []string{`UPDATE _trigsync_rows SET tbl = ?1 WHERE tbl = ?2 COLLATE NOCASE`,
				`UPDATE _trigsync_cells SET tbl = ?1 WHERE tbl = ?2 COLLATE NOCASE`,
				`UPDATE _trigsync_conflicts SET tbl = ?1 WHERE tbl = ?2 COLLATE NOCASE`}
			args = []any{st.NewName, st.Table}
		case ddl.RenameColumn:
			qs = []string{`UPDATE _trigsync_cells SET col = ?1 WHERE tbl = ?2 COLLATE NOCASE AND col = ?3 COLLATE NOCASE`}
			args = []any{st.NewName, st.Table, st.Column}
		case ddl.DropColumn:
			qs = []string{`DELETE FROM _trigsync_cells WHERE tbl = ?1 COLLATE NOCASE AND col = ?2 COLLATE NOCASE`}
			args = []any{st.Table, st.Column}
		case ddl.DropTable:
			qs = []string{`DELETE FROM _trigsync_rows WHERE tbl = ?1 COLLATE NOCASE`,
				`DELETE FROM _trigsync_cells WHERE tbl = ?1 COLLATE NOCASE`}
			args = []any{st.Table}
		}
		for _, q := range qs {
			if _, err := x.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("move the merge state along %s %s: %w", st.Kind, schema.Quote(st.Table), err)
			}
		}
	}
	return nil
}

// tryMigration applies a received change of op Schema, or says why it must
// wait (held): its stamp is too far ahead (unless released), a change of
// its origin older than conflict `before` (0: any) is held, or the version
// cannot apply here. A version this node has already is a duplicate; both
// are logged, so that the version travels on. It fails with
// ErrSchemaConflict when the peer's version of a number this node has came
// first.
func (a *applier) tryMigration(ctx context.Context, c changelog.Change, before int64, release bool, res *Result) (string, error) {
	if problem := a.ahead(c); problem != "" && !release {
		return problem, nil
	}
	if problem, err := a.waiting(ctx, c, before); err != nil || problem != "" {
		return problem, err
	}
	m := c.Migration
	if m == nil || m.Version < 1 {
		return "a schema change without a valid migration", nil
	}
	if mine, ok := a.migrations[m.Version]; ok {
		if mine.Checksum == m.Checksum {
			res.Duplicates++
			return "", a.logMigration(ctx, c)
		}
		theirs, ours := lww.Stamp{HLC: c.HLC, Node: c.Origin}, lww.Stamp{HLC: mine.HLC, Node: mine.Node}
		if theirs.Less(ours) {
			return "", fmt.Errorf("%w: schema version %d on node %s is %.80q (made by node %s), but node %s made %.80q first; "+
				"the schema history of node %[3]s lost: it applies nothing more from peers until it is re-made (docs/MIGRATIONS.md, \"Concurrent migrations\")",
				ErrSchemaConflict, m.Version, a.local, mine.SQL, mine.Node, c.Origin, m.SQL)
		}
		return fmt.Sprintf("schema conflict: version %d here is %.80q, made first (by node %s); this one lost, with the later changes of its node",
			m.Version, mine.SQL, mine.Node), nil
	}
	if m.Version > a.version+1 {
		return fmt.Sprintf("schema version %d waits for version %d", m.Version, a.version+1), nil
	}
	// Apply it: what is pending goes to the database first, and a refused
	// migration leaves nothing behind.
	if err := a.applyPostponed(ctx, res); err != nil {
		return "", err
	}
	if err := a.st.forget(ctx); err != nil { // the cache is keyed by names a rename changes
		return "", err
	}
	if _, err := a.log.Flush(ctx); err != nil {
		return "", err
	}
	// The statements see, and may rename or drop, the application's
	// triggers as they are.
	if err := a.quiet.Restore(ctx, a.tx); err != nil {
		return "", err
	}
	if _, err := a.tx.ExecContext(ctx, `SAVEPOINT trigsync_migration`); err != nil {
		return "", fmt.Errorf("apply schema version %d: %w", m.Version, err)
	}
	applied := changelog.AppliedMigration{Migration: *m, HLC: c.HLC, Node: c.Origin}
	stmts, err := evolve.Apply(ctx, a.tx, applied)
	if err == nil {
		err = moveState(ctx, a.tx, stmts)
	}
	if errors.Is(err, evolve.ErrRefused) {
		if _, rerr := a.tx.ExecContext(ctx, `ROLLBACK TO trigsync_migration`); rerr != nil {
			return "", fmt.Errorf("apply schema version %d: %w", m.Version, rerr)
		}
		_, rerr := a.tx.ExecContext(ctx, `RELEASE trigsync_migration`)
		return err.Error(), rerr
	}
	if err != nil {
		return "", err
	}
	if _, err := a.tx.ExecContext(ctx, `RELEASE trigsync_migration`); err != nil {
		return "", fmt.Errorf("apply schema version %d: %w", m.Version, err)
	}
	if err := a.loadSchema(ctx); err != nil {
		return "", err
	}
	if err := a.loadTriggers(ctx); err != nil {
		return "", err
	}
	a.maxHLC, a.migrated = max(a.maxHLC, c.HLC), true
	res.Applied++
	return "", a.logMigration(ctx, c)
}

func (a *applier) logMigration(ctx context.Context, c changelog.Change) error {
	if err := changelog.EnsureSlots(ctx, a.tx, 3); err != nil {
		return err
	}
	origin, err := a.st.ref(ctx, c.Origin)
	if err != nil {
		return err
	}
	return a.log.AppendMigration(ctx, c, origin)
}

// loadSchema reads the local schema: the replicated tables, their
// descriptions and the schema versions applied.
func (a *applier) loadSchema(ctx context.Context) error {
	active, err := changelog.ActiveDescriptions(ctx, a.tx)
	if err != nil {
		return err
	}
	a.descs = make(map[string]changelog.Description, len(active))
	for name, d := range active {
		a.descs[strings.ToLower(name)] = d
	}
	tables, err := a.schema.Tables(ctx, a.tx)
	if err != nil {
		return err
	}
	a.tables = make(map[string]schema.Table, len(tables))
	for _, t := range tables {
		if t.Kind == schema.KindTable {
			a.tables[strings.ToLower(t.Name)] = t
		}
	}
	clear(a.inserts)
	applied, err := changelog.Migrations(ctx, a.tx)
	if err != nil {
		return err
	}
	a.migrations, a.steps, a.version = map[int64]changelog.AppliedMigration{}, map[int64][]ddl.Statement{}, 0
	for _, m := range applied {
		a.migrations[m.Version], a.version = m, max(a.version, m.Version)
	}
	return nil
}

// checkAppTriggers refuses a migration that leaves an application trigger
// on a replicated table undecided (package apptriggers).
func checkAppTriggers(ctx context.Context, tx *sqlx.Tx) error {
	active, err := changelog.ActiveDescriptions(ctx, tx)
	if err != nil {
		return err
	}
	plan, err := apptriggers.Load(ctx, tx, func(table string) bool {
		for name := range active {
			if strings.EqualFold(name, table) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	var undecided []string
	for _, t := range plan {
		if t.Action == apptriggers.Undecided && !t.Chosen {
			undecided = append(undecided, fmt.Sprintf("trigger %q on %q: %s", t.Name, t.Table, t.Why))
		}
	}
	if len(undecided) > 0 {
		return fmt.Errorf("%w: %s; every node would stop applying until it chose: split it into one trigger that writes replicated tables and one that writes local ones",
			evolve.ErrRefused, strings.Join(undecided, "; "))
	}
	return nil
}

// loadTriggers classifies the application's triggers on the replicated
// tables (docs/MERGE.md, "The application's triggers"); one the rule cannot
// decide stops the apply.
func (a *applier) loadTriggers(ctx context.Context) error {
	plan, err := apptriggers.Load(ctx, a.tx, func(table string) bool {
		_, ok := a.descs[strings.ToLower(table)]
		return ok
	})
	if err == nil {
		err = plan.Check()
	}
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	a.quiet = plan.Silencer()
	return nil
}

// translate expresses a change made on an older schema version in the
// names of this node's version: renamed tables and columns take their new
// names; cells of dropped columns are dropped (lost reports it), and a
// change left with nothing to do, of a dropped table say, is gone. A
// change made on a newer version than this node's cannot be translated:
// problem says it waits.
func (a *applier) translate(c changelog.Change) (out changelog.Change, lost, gone bool, problem string, err error) {
	if c.SchemaVersion > a.version {
		return c, false, false, fmt.Sprintf("made on schema version %d; this node has version %d: it waits for the migration", c.SchemaVersion, a.version), nil
	}
	if c.SchemaVersion == a.version {
		return c, false, false, "", nil
	}
	out = c
	out.Key, out.Set = append(changelog.Cells(nil), c.Key...), append(changelog.Cells(nil), c.Set...)
	for v := c.SchemaVersion + 1; v <= a.version; v++ {
		stmts, err := a.statements(v)
		if err != nil {
			return c, false, false, "", err
		}
		for _, st := range stmts {
			if !strings.EqualFold(out.Table, st.Table) {
				continue
			}
			switch st.Kind {
			case ddl.RenameTable:
				out.Table = st.NewName
			case ddl.RenameColumn:
				for _, cells := range []changelog.Cells{out.Key, out.Set} {
					for i := range cells {
						if strings.EqualFold(cells[i].Column, st.Column) {
							cells[i].Column = st.NewName
						}
					}
				}
			case ddl.DropColumn:
				n := len(out.Set)
				out.Set = slices.DeleteFunc(out.Set, func(cell changelog.Cell) bool { return strings.EqualFold(cell.Column, st.Column) })
				lost = lost || len(out.Set) < n
			case ddl.DropTable:
				return out, true, true, "", nil
			}
		}
	}
	out.SchemaVersion = a.version
	gone = (out.Op == changelog.Update || out.Op == changelog.Add) && len(out.Set) == 0
	return out, lost, gone, "", nil
}

// statements returns the parsed statements of schema version v.
func (a *applier) statements(v int64) ([]ddl.Statement, error) {
	if stmts, ok := a.steps[v]; ok {
		return stmts, nil
	}
	m, ok := a.migrations[v]
	if !ok {
		return nil, fmt.Errorf("schema version %d is missing from _trigsync_schema", v)
	}
	stmts, err := ddl.Parse(m.SQL)
	if err != nil {
		return nil, fmt.Errorf("schema version %d: %w", v, err)
	}
	a.steps[v] = stmts
	return stmts, nil
}
