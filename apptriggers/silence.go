package apptriggers

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/schema"
)

// Silencer keeps a plan's skipped triggers from running inside one apply
// transaction: it drops them before the transaction's first write to a
// table and creates them again, from the exact text sqlite_schema held,
// before it commits. DDL is transactional, so no other connection ever
// sees them missing, and a crash or rollback leaves them as they were.
// The application's trigger text is never rewritten, and local writes pay
// nothing. (SQLite's own switch, SQLITE_DBCONFIG_ENABLE_TRIGGER, is one
// for every trigger of a connection, and would stop FTS5 index triggers
// too.)
//
// SQLite runs the triggers of one event newest first, and that order
// decides the order of the log rows one statement writes (a title and the
// slug a trigger derives from it): every node must keep the order it was
// given. So the Silencer drops, with a skipped trigger, every trigger of
// its table created after it, and creates them all again in their order;
// meanwhile it creates again those that must run on apply (trigsync's own
// log nothing while the applier writes).
type Silencer struct {
	skip    map[string]bool // by lower-case name
	tables  []string
	dropped []Definition // in creation order: per table, every trigger from its first skipped one on
	running []Definition // of dropped, those created again for the apply
	silent  bool
}

// Silencer returns a Silencer of the plan's skipped triggers.
func (p Plan) Silencer() *Silencer {
	s := &Silencer{skip: map[string]bool{}}
	seen := map[string]bool{}
	for _, t := range p.Skipped() {
		s.skip[strings.ToLower(t.Name)] = true
		if k := strings.ToLower(t.Table); !seen[k] {
			seen[k] = true
			s.tables = append(s.tables, t.Table)
		}
	}
	return s
}

// Silence drops the skipped triggers, unless they are dropped already.
func (s *Silencer) Silence(ctx context.Context, x sqlx.ExtContext) error {
	if s == nil || s.silent || len(s.skip) == 0 {
		return nil
	}
	for _, table := range s.tables {
		var all []Definition
		if err := sqlx.SelectContext(ctx, x, &all, `SELECT name, tbl_name, sql FROM sqlite_schema
			WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE ORDER BY rowid`, table); err != nil {
			return fmt.Errorf("list the triggers of %s: %w", schema.Quote(table), err)
		}
		for i, d := range all {
			if s.skip[strings.ToLower(d.Name)] {
				s.dropped = append(s.dropped, all[i:]...)
				break
			}
		}
	}
	for _, d := range s.dropped {
		if _, err := x.ExecContext(ctx, `DROP TRIGGER `+schema.Quote(d.Name)); err != nil {
			return fmt.Errorf("keep trigger %q from running on apply: %w", d.Name, err)
		}
	}
	s.silent = true
	for _, d := range s.dropped {
		if s.skip[strings.ToLower(d.Name)] || strings.HasPrefix(d.Name, ownPrefix) {
			continue
		}
		if _, err := x.ExecContext(ctx, d.SQL); err != nil {
			return fmt.Errorf("keep trigger %q running on apply: %w", d.Name, err)
		}
		s.running = append(s.running, d)
	}
	return nil
}

// Restore creates the dropped triggers again, as they were written and in
// the order they were.
func (s *Silencer) Restore(ctx context.Context, x sqlx.ExtContext) error {
	if s == nil || !s.silent {
		return nil
	}
	for _, d := range s.running {
		if _, err := x.ExecContext(ctx, `DROP TRIGGER `+schema.Quote(d.Name)); err != nil {
			return fmt.Errorf("restore trigger %q after apply: %w", d.Name, err)
		}
	}
	for _, d := range s.dropped {
		if _, err := x.ExecContext(ctx, d.SQL); err != nil {
			return fmt.Errorf("restore trigger %q after apply: %w", d.Name, err)
		}
	}
	s.dropped, s.running, s.silent = nil, nil, false
	return nil
}
