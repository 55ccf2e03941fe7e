package apptriggers

import (
	"context"
	"fmt"

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
type Silencer struct {
	skip   []Trigger
	silent bool
}

// Silencer returns a Silencer of the plan's skipped triggers.
func (p Plan) Silencer() *Silencer { return &Silencer{skip: p.Skipped()} }

// Silence drops the skipped triggers, unless they are dropped already.
func (s *Silencer) Silence(ctx context.Context, x sqlx.ExecerContext) error {
	if s == nil || s.silent || len(s.skip) == 0 {
		return nil
	}
	for _, t := range s.skip {
		if _, err := x.ExecContext(ctx, `DROP TRIGGER `+schema.Quote(t.Name)); err != nil {
			return fmt.Errorf("keep trigger %q from running on apply: %w", t.Name, err)
		}
	}
	s.silent = true
	return nil
}

// Restore creates the dropped triggers again, as they were written.
func (s *Silencer) Restore(ctx context.Context, x sqlx.ExecerContext) error {
	if s == nil || !s.silent {
		return nil
	}
	for _, t := range s.skip {
		if _, err := x.ExecContext(ctx, t.SQL); err != nil {
			return fmt.Errorf("restore trigger %q after apply: %w", t.Name, err)
		}
	}
	s.silent = false
	return nil
}
