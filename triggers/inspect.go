package triggers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/migrations"
	"github.com/trigsync/trigsync/schema"
)

// ErrNotInstalled means trigsync's tables are missing from the database.
var ErrNotInstalled = errors.New("trigsync is not installed in this database")

// TableState is an installed table as it is now.
type TableState struct {
	Table
	// Stale says why the table's triggers no longer match its schema
	// (changed by hand, say); empty when they do. `install` mends it.
	Stale string `json:"stale,omitempty"`
}

// State is what Inspect finds.
type State struct {
	MetadataVersion int
	Selection       Selection
	Tables          []TableState
	Skipped         []Skipped
	AppTriggers     apptriggers.Plan
}

// Inspect compares the installed triggers with the schema without changing
// anything.
func Inspect(ctx context.Context, q sqlx.QueryerContext) (State, error) {
	var s State
	var err error
	if s.MetadataVersion, err = migrations.Version(ctx, q); err != nil {
		return s, err
	}
	if s.MetadataVersion == 0 {
		return s, ErrNotInstalled
	}
	if s.Selection, err = StoredSelection(ctx, q); err != nil {
		return s, err
	}
	tables, err := schema.Tables(ctx, q)
	if err != nil {
		return s, err
	}
	plan, err := Classify(tables, s.Selection)
	if err != nil {
		return s, err
	}
	s.Skipped = append(plan.Skipped, plan.Refused...)
	active, err := changelog.ActiveDescriptions(ctx, q)
	if err != nil {
		return s, err
	}
	existing, err := installedTriggers(ctx, q)
	if err != nil {
		return s, err
	}
	for _, t := range plan.Replicated {
		ts := TableState{Table: Table{Name: t.Name, Warnings: plan.Warnings[t.Name]}}
		for _, c := range t.PrimaryKey() {
			ts.PrimaryKey = append(ts.PrimaryKey, c.Name)
		}
		d, ok := active[t.Name]
		ts.Description, ts.Columns, ts.Counters = d.ID, len(d.Columns), d.Counters()
		switch {
		case !ok:
			ts.Stale = "not installed yet"
		case d.Fingerprint != changelog.Describe(t).Fingerprint:
			ts.Stale = "the table's schema changed since install"
		default:
			for kind, sql := range Generate(t, d) {
				if existing[TriggerName(kind, t.Name)] != sql {
					ts.Stale = "a trigger is missing or was changed"
				}
			}
		}
		s.Tables = append(s.Tables, ts)
	}
	s.AppTriggers, err = apptriggers.Load(ctx, q, isReplicated(plan.Replicated))
	return s, err
}

// ErrSchemaDrift means a replicated table changed outside trigsync: its
// triggers may no longer capture every column.
var ErrSchemaDrift = errors.New("schema changed outside trigsync")

// CheckDrift fails with ErrSchemaDrift, naming the tables, when a
// replicated table's schema differs from the description its triggers
// were made for, or the table is gone.
func CheckDrift(ctx context.Context, q sqlx.QueryerContext) error {
	active, err := changelog.ActiveDescriptions(ctx, q)
	if err != nil || len(active) == 0 {
		return err
	}
	tables, err := schema.Tables(ctx, q)
	if err != nil {
		return err
	}
	live := map[string]schema.Table{}
	for _, t := range tables {
		live[t.Name] = t
	}
	var drifted []string
	for name, d := range active {
		if t, ok := live[name]; !ok || changelog.Describe(t).Fingerprint != d.Fingerprint {
			drifted = append(drifted, schema.Quote(name))
		}
	}
	if len(drifted) == 0 {
		return nil
	}
	slices.Sort(drifted)
	return fmt.Errorf("%w: %s changed since install (ALTER or DROP by hand?); this node ships no change until `trigsync migrate --adopt` (for every node) or `trigsync install` (for this node only) records the new layout",
		ErrSchemaDrift, strings.Join(drifted, ", "))
}

// DriftCache remembers what CheckDrift found for one committed version of
// a database's schema (PRAGMA schema_version, which every committed
// CREATE, ALTER and DROP moves on): a node answering many peers reads its
// schema once per change of it, not once per request. Check reads the
// database outside any transaction, so it sees committed schemas only.
// The zero value is ready.
type DriftCache struct {
	mu      sync.Mutex
	version int64
	checked bool
	err     error
}

// Check is CheckDrift, answered from the cache while the schema version
// is the one last checked.
func (d *DriftCache) Check(ctx context.Context, db *sqlx.DB) error {
	var version int64
	if err := db.GetContext(ctx, &version, `PRAGMA schema_version`); err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.checked && d.version == version {
		return d.err
	}
	err := CheckDrift(ctx, db)
	if err != nil && !errors.Is(err, ErrSchemaDrift) {
		return err // not an answer: not cached
	}
	d.version, d.checked, d.err = version, true, err
	return err
}
