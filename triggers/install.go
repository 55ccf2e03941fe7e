package triggers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/migrations"
	"github.com/trigsync/trigsync/schema"
)

// Options tune Install.
type Options struct {
	// Selection replaces the stored selection; nil keeps the one stored by
	// the previous install (all tables the first time).
	Selection *Selection
	// DryRun computes everything and rolls it back.
	DryRun bool
	// Triggers are choices for the application's triggers (by name: fire,
	// skip, or auto to let the rule decide), merged into the stored ones.
	Triggers map[string]apptriggers.Action
	// Counters are columns to make counters (docs/MERGE.md, "Counter
	// columns"), added to the stored ones: by table, the column names.
	Counters map[string][]string
}

// Table is one replicated table as installed.
type Table struct {
	Name        string   `json:"name"`
	Description int64    `json:"description"`
	PrimaryKey  []string `json:"primary_key"`
	Columns     int      `json:"columns"`
	Counters    []string `json:"counters,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

// Report says what Install did (or, with DryRun, would do).
type Report struct {
	NodeID       string
	NewNode      bool
	MigratedFrom int
	Tables       []Table
	Skipped      []Skipped
	Statements   []string         // the DDL executed, in order; empty when nothing changed
	AppTriggers  apptriggers.Plan // the application's triggers on the replicated tables, and what each does on apply
}

// Install creates trigsync's tables if needed and brings every selected
// table's triggers up to date, in one transaction. A second run with the
// same schema changes nothing.
func Install(ctx context.Context, db *sqlx.DB, opts Options) (Report, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return Report{}, fmt.Errorf("begin install: %w", err)
	}
	defer tx.Rollback()
	r, err := InstallTx(ctx, tx, opts)
	if err != nil || opts.DryRun {
		return r, err
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("commit install: %w", err)
	}
	return r, nil
}

// InstallTx is Install inside the caller's transaction, which it leaves
// open (DryRun is the caller's to honour).
func InstallTx(ctx context.Context, tx *sqlx.Tx, opts Options) (Report, error) {
	var r Report
	var err error
	if r.MigratedFrom, err = migrations.Migrate(ctx, tx); err != nil {
		return r, err
	}
	before, err := changelog.NodeID(ctx, tx)
	if err != nil {
		return r, err
	}
	if r.NodeID, err = changelog.EnsureNodeID(ctx, tx); err != nil {
		return r, err
	}
	r.NewNode = before == ""
	sel, err := selection(ctx, tx, opts.Selection)
	if err != nil {
		return r, err
	}
	tables, err := schema.Tables(ctx, tx)
	if err != nil {
		return r, err
	}
	plan, err := Classify(tables, sel)
	if err != nil {
		return r, err
	}
	r.Skipped = plan.Skipped
	if len(plan.Refused) > 0 {
		reasons := make([]string, len(plan.Refused))
		for i, s := range plan.Refused {
			reasons[i] = s.Reason
		}
		return r, fmt.Errorf("%w: %s", ErrNoPrimaryKey, strings.Join(reasons, "; "))
	}

	counters, err := counterColumns(ctx, tx, opts.Counters, plan.Replicated)
	if err != nil {
		return r, err
	}
	ddl := &recorder{tx: tx}
	active, err := changelog.ActiveDescriptions(ctx, tx)
	if err != nil {
		return r, err
	}
	existing, err := installedTriggers(ctx, tx)
	if err != nil {
		return r, err
	}
	wanted := map[string]bool{}
	for _, t := range plan.Replicated {
		d := changelog.Describe(t).WithCounters(counters[strings.ToLower(t.Name)])
		if a, ok := active[t.Name]; ok && a.Fingerprint == d.Fingerprint && a.SameCounters(d) {
			d = a
		} else if d, err = changelog.Activate(ctx, tx, d); err != nil {
			return r, err
		}
		delete(active, t.Name)
		if err := changelog.EnsureSlots(ctx, tx, len(d.Columns)); err != nil {
			return r, err
		}
		sqls := Generate(t, d)
		for _, kind := range kinds {
			sql, ok := sqls[kind]
			if !ok {
				continue
			}
			name := TriggerName(kind, t.Name)
			wanted[name] = true
			if existing[name] == sql {
				continue
			}
			if _, ok := existing[name]; ok {
				ddl.exec(ctx, "DROP TRIGGER "+schema.Quote(name))
			}
			ddl.exec(ctx, sql)
		}
		var pk []string
		for _, c := range t.PrimaryKey() {
			pk = append(pk, c.Name)
		}
		r.Tables = append(r.Tables, Table{Name: t.Name, Description: d.ID, PrimaryKey: pk,
			Columns: len(d.Columns), Counters: d.Counters(), Warnings: plan.Warnings[t.Name]})
	}
	for name := range existing {
		if !wanted[name] {
			ddl.exec(ctx, "DROP TRIGGER "+schema.Quote(name))
		}
	}
	for table := range active { // replicated before, not any more
		if err := changelog.Deactivate(ctx, tx, table); err != nil {
			return r, err
		}
	}
	if ddl.err != nil {
		return r, ddl.err
	}
	r.Statements = ddl.done
	r.AppTriggers, err = appTriggers(ctx, tx, plan.Replicated, opts.Triggers)
	return r, err
}

// appTriggers stores the choices given and classifies the application's
// triggers on the replicated tables.
func appTriggers(ctx context.Context, tx *sqlx.Tx, replicated []schema.Table, choices map[string]apptriggers.Action) (apptriggers.Plan, error) {
	defs, err := apptriggers.Definitions(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := apptriggers.StoreChoices(ctx, tx, defs, choices); err != nil {
		return nil, err
	}
	return apptriggers.Load(ctx, tx, isReplicated(replicated))
}

// isReplicated reports, by name as SQLite matches names, whether a table
// is one of tables.
func isReplicated(tables []schema.Table) func(string) bool {
	names := make(map[string]bool, len(tables))
	for _, t := range tables {
		names[strings.ToLower(t.Name)] = true
	}
	return func(table string) bool { return names[strings.ToLower(table)] }
}

// DropTriggers removes trigsync's triggers, so that DDL the triggers name
// (DROP COLUMN, say) can run; InstallTx makes them again.
func DropTriggers(ctx context.Context, tx *sqlx.Tx) error {
	existing, err := installedTriggers(ctx, tx)
	if err != nil {
		return err
	}
	ddl := &recorder{tx: tx}
	for name := range existing {
		ddl.exec(ctx, "DROP TRIGGER "+schema.Quote(name))
	}
	return ddl.err
}

// selection stores sel as the database's selection, or reads the stored one.
func selection(ctx context.Context, tx *sqlx.Tx, sel *Selection) (Selection, error) {
	if sel != nil {
		b, _ := json.Marshal(sel)
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_meta(key, value) VALUES ('selection', ?)`, string(b))
		if err != nil {
			return *sel, fmt.Errorf("store table selection: %w", err)
		}
		return *sel, nil
	}
	return StoredSelection(ctx, tx)
}

// StoredSelection returns the selection the last install stored (every
// table when none was given).
func StoredSelection(ctx context.Context, q sqlx.QueryerContext) (Selection, error) {
	var s Selection
	var b string
	err := sqlx.GetContext(ctx, q, &b, `SELECT value FROM _trigsync_meta WHERE key = 'selection'`)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(b), &s)
	}
	if err != nil {
		return s, fmt.Errorf("read table selection: %w", err)
	}
	return s, nil
}

// installedTriggers returns trigsync's triggers by name with their SQL.
func installedTriggers(ctx context.Context, q sqlx.QueryerContext) (map[string]string, error) {
	var rows []struct {
		Name string `db:"name"`
		SQL  string `db:"sql"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'trigger' AND substr(name, 1, length(?)) = ?`, changelog.Prefix, changelog.Prefix); err != nil {
		return nil, fmt.Errorf("list installed triggers: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = r.SQL
	}
	return out, nil
}

// Uninstall removes trigsync's triggers and tables in one transaction. The
// application's tables, data and triggers are not touched.
func Uninstall(ctx context.Context, db *sqlx.DB) (dropped []string, err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin uninstall: %w", err)
	}
	defer tx.Rollback()
	var objs []struct {
		Type string `db:"type"`
		Name string `db:"name"`
	}
	if err := sqlx.SelectContext(ctx, tx, &objs, `SELECT type, name FROM sqlite_schema
		WHERE type IN ('trigger', 'table') AND substr(name, 1, length(?)) = ?
		ORDER BY type = 'table', name`, changelog.Prefix, changelog.Prefix); err != nil {
		return nil, fmt.Errorf("list trigsync objects: %w", err)
	}
	ddl := &recorder{tx: tx}
	for _, o := range objs {
		ddl.exec(ctx, "DROP "+strings.ToUpper(o.Type)+" "+schema.Quote(o.Name))
	}
	if ddl.err != nil {
		return nil, ddl.err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit uninstall: %w", err)
	}
	return ddl.done, nil
}

// recorder runs DDL statements until the first error and remembers them.
type recorder struct {
	tx   *sqlx.Tx
	done []string
	err  error
}

func (d *recorder) exec(ctx context.Context, stmt string) {
	if d.err != nil {
		return
	}
	if _, err := d.tx.ExecContext(ctx, stmt); err != nil {
		first, _, _ := strings.Cut(stmt, "\n")
		d.err = fmt.Errorf("%s: %w", first, err)
		return
	}
	d.done = append(d.done, stmt)
}
