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

// ErrNothingToAdopt means every replicated table matches its description.
var ErrNothingToAdopt = errors.New("nothing to adopt: every replicated table is as its triggers were made for")

// Adoption returns the statements that would have made the hand-made
// changes of the replicated tables since their triggers were made: new
// tables the selection replicates, dropped tables, and added, dropped and
// renamed columns (a column whose name changed in place is taken for a
// rename). Other changes (a column's type or constraints, a primary key)
// cannot be told from the schema alone: it refuses them, naming the table.
func Adoption(ctx context.Context, tx *sqlx.Tx) ([]ddl.Statement, error) {
	active, err := changelog.ActiveDescriptions(ctx, tx)
	if err != nil {
		return nil, err
	}
	tables, err := schema.Tables(ctx, tx)
	if err != nil {
		return nil, err
	}
	sel, err := triggers.StoredSelection(ctx, tx)
	if err != nil {
		return nil, err
	}
	live := map[string]schema.Table{}
	for _, t := range tables {
		live[t.Name] = t
	}
	// A selected table dropped by hand leaves the selection with its DROP.
	for _, names := range []*[]string{&sel.Include, &sel.Exclude} {
		*names = slices.DeleteFunc(*names, func(n string) bool {
			return !slices.ContainsFunc(tables, func(t schema.Table) bool { return strings.EqualFold(t.Name, n) })
		})
	}
	plan, err := triggers.Classify(tables, sel)
	if err != nil {
		return nil, err
	}
	var script, created, dropped []string
	for _, t := range plan.Replicated {
		if _, ok := active[t.Name]; ok {
			continue
		}
		sql, err := createSQL(ctx, tx, t.Name)
		if err != nil {
			return nil, err
		}
		script, created = append(script, sql), append(created, schema.Quote(t.Name))
	}
	names := make([]string, 0, len(active))
	for name := range active {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t, ok := live[name]
		if !ok {
			script, dropped = append(script, "DROP TABLE "+schema.Quote(name)), append(dropped, schema.Quote(name))
			continue
		}
		d := active[name]
		if changelog.Describe(t).Fingerprint == d.Fingerprint {
			continue
		}
		alters, err := alterations(ctx, tx, d, t)
		if err != nil {
			return nil, err
		}
		script = append(script, alters...)
	}
	if len(created) > 0 && len(dropped) > 0 {
		return nil, fmt.Errorf("adopt: %s gone and %s new: a renamed table cannot be told from a dropped one and a new one; "+
			"undo the change and run trigsync migrate with ALTER TABLE … RENAME TO", strings.Join(dropped, ", "), strings.Join(created, ", "))
	}
	if len(script) == 0 {
		return nil, ErrNothingToAdopt
	}
	return ddl.Parse(strings.Join(script, ";\n"))
}

// alterations returns the ALTER TABLE statements that turn the layout d
// describes into table t's.
func alterations(ctx context.Context, q sqlx.QueryerContext, d changelog.Description, t schema.Table) ([]string, error) {
	refuse := func(why string) ([]string, error) {
		return nil, fmt.Errorf("adopt: table %s %s; this cannot be adopted: undo it and make the change with trigsync migrate, or keep it on this node with trigsync install",
			schema.Quote(t.Name), why)
	}
	now := changelog.Describe(t)
	if !slices.EqualFunc(d.KeySlots(), now.KeySlots(), func(a, b int) bool {
		return strings.EqualFold(d.Columns[a].Name, now.Columns[b].Name)
	}) {
		return refuse("has another primary key")
	}
	was := func(cols []changelog.Column, name string) int {
		return slices.IndexFunc(cols, func(c changelog.Column) bool { return strings.EqualFold(c.Name, name) })
	}
	var gone, added []int
	for i, c := range d.Columns {
		if j := was(now.Columns, c.Name); j < 0 {
			gone = append(gone, i)
		} else if !strings.EqualFold(now.Columns[j].Type, c.Type) {
			return refuse(fmt.Sprintf("changed the type of column %s", schema.Quote(c.Name)))
		}
	}
	for i, c := range now.Columns {
		if was(d.Columns, c.Name) < 0 {
			added = append(added, i)
		}
	}
	q1 := schema.Quote(t.Name)
	if len(gone) == 1 && len(added) == 1 && gone[0] == added[0] &&
		strings.EqualFold(d.Columns[gone[0]].Type, now.Columns[added[0]].Type) { // renamed in place
		return []string{"ALTER TABLE " + q1 + " RENAME COLUMN " + schema.Quote(d.Columns[gone[0]].Name) +
			" TO " + schema.Quote(now.Columns[added[0]].Name)}, nil
	}
	var out []string
	for _, i := range gone {
		out = append(out, "ALTER TABLE "+q1+" DROP COLUMN "+schema.Quote(d.Columns[i].Name))
	}
	if len(added) > 0 {
		create, err := createSQL(ctx, q, t.Name)
		if err != nil {
			return nil, err
		}
		for _, i := range added {
			def, err := ddl.ColumnDefinition(create, now.Columns[i].Name)
			if err != nil {
				return nil, fmt.Errorf("adopt: %w", err)
			}
			out = append(out, "ALTER TABLE "+q1+" ADD COLUMN "+def)
		}
	}
	if len(out) == 0 {
		return refuse("changed in a way other than adding, dropping or renaming columns (a constraint, a default, STRICT or WITHOUT ROWID)")
	}
	return out, nil
}

// createSQL returns the CREATE TABLE statement SQLite keeps for table.
func createSQL(ctx context.Context, q sqlx.QueryerContext, table string) (string, error) {
	var sql string
	if err := sqlx.GetContext(ctx, q, &sql, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, table); err != nil {
		return "", fmt.Errorf("adopt: read the definition of %s: %w", schema.Quote(table), err)
	}
	return sql, nil
}
