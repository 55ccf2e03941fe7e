// Package triggers chooses the tables to replicate and installs, regenerates
// and removes the pure-SQL triggers that write their changes into the
// changelog (docs/FORMAT.md).
package triggers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/schema"
)

// ErrNoPrimaryKey means a selected table has no declared primary key.
var ErrNoPrimaryKey = errors.New("table without a primary key")

// WarnRowidKey warns of keys that SQLite assigns on each node on its own.
const WarnRowidKey = "INTEGER PRIMARY KEY: ids that SQLite assigns (AUTOINCREMENT too) on two nodes collide; " +
	"prefer UUIDv7 or ULID TEXT keys, or give each node its own id range"

// Selection names the tables to replicate: all of them when Include is
// empty, less those in Exclude. Names match as SQLite matches them.
type Selection struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Skipped is a table that is not replicated, and why.
type Skipped struct {
	Table  string `json:"table"`
	Reason string `json:"reason"`
}

// Plan is the outcome of classifying a schema's tables.
type Plan struct {
	Replicated []schema.Table
	Warnings   map[string][]string // by table name
	Skipped    []Skipped
	Refused    []Skipped // selected, but cannot be replicated
}

// Classify decides for every table whether it is replicated.
func Classify(tables []schema.Table, sel Selection) (Plan, error) {
	p := Plan{Warnings: map[string][]string{}}
	known := map[string]bool{}
	for _, t := range tables {
		if t.Kind != schema.KindView {
			known[strings.ToLower(t.Name)] = true
		}
	}
	for flag, names := range map[string][]string{"--include": sel.Include, "--exclude": sel.Exclude} {
		for _, n := range names {
			if !known[strings.ToLower(n)] {
				return p, fmt.Errorf("%s names %s, which is not a table of this database", flag, schema.Quote(n))
			}
		}
	}
	for _, t := range tables {
		skip := func(reason string) { p.Skipped = append(p.Skipped, Skipped{t.Name, reason}) }
		switch {
		case t.Kind == schema.KindView, strings.HasPrefix(t.Name, changelog.Prefix),
			strings.EqualFold(t.Name, "sqlite_schema"), strings.EqualFold(t.Name, "sqlite_temp_schema"):
		case t.Internal():
			skip("SQLite's own table")
		case t.Kind == schema.KindVirtual:
			skip("virtual table (FTS5 and the like): rebuild it on each node from the tables it reads")
		case t.Kind == schema.KindShadow:
			skip("shadow table of a virtual table")
		case len(sel.Include) > 0 && !contains(sel.Include, t.Name):
			skip("not named by --include")
		case contains(sel.Exclude, t.Name):
			skip("named by --exclude")
		case len(t.PrimaryKey()) == 0:
			p.Refused = append(p.Refused, Skipped{t.Name, fmt.Sprintf(
				"%s has no PRIMARY KEY: trigsync finds a row on every node by its primary key, and rowids are local to one file; "+
					"give it a primary key (a UUIDv7 or ULID TEXT PRIMARY KEY is safe with many writers) or leave it out with --exclude %s",
				schema.Quote(t.Name), t.Name)})
		default:
			p.Replicated = append(p.Replicated, t)
			if t.RowidKey() {
				p.Warnings[t.Name] = append(p.Warnings[t.Name], WarnRowidKey)
			}
		}
	}
	return p, nil
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
