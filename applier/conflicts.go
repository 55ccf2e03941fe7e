package applier

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/schema"
)

// Conflict is a change the applier set aside.
type Conflict struct {
	ID     int64           `json:"id" db:"id"`
	Kind   string          `json:"kind" db:"kind"` // error, held or notice
	At     string          `json:"at" db:"at"`
	Table  string          `json:"table" db:"tbl"`
	Change json.RawMessage `json:"change" db:"change"` // the change in full, as `changes --json` prints it
	Error  string          `json:"error" db:"error"`
}

// Conflicts lists the unresolved conflicts, oldest first.
func Conflicts(ctx context.Context, q sqlx.QueryerContext) ([]Conflict, error) {
	var rows []struct {
		Conflict
		Change string `db:"change"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, kind, at, tbl, change, error FROM _trigsync_conflicts
		WHERE resolved IS NULL ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	out := make([]Conflict, len(rows))
	for i, r := range rows {
		out[i] = r.Conflict
		out[i].Change = json.RawMessage(r.Change)
	}
	return out, nil
}

// retry applies again, oldest first, the unresolved conflicts of the
// given kinds (all of them, or those in ids). A change applies once no
// older conflict of its row is open, its names resolve and, unless
// released, its stamp is within the allowed skew. A held change is then
// appended to the log like any received change; a failed one (kind
// "error") was logged when it arrived.
func (a *applier) retry(ctx context.Context, kinds []string, ids []int64, release bool, res *Result) error {
	for {
		a.migrated = false
		if err := a.retryOnce(ctx, kinds, ids, release, res); err != nil || !a.migrated {
			return err
		}
		// A schema version applied: the changes it held may apply now.
	}
}

func (a *applier) retryOnce(ctx context.Context, kinds []string, ids []int64, release bool, res *Result) error {
	var rows []struct {
		ID     int64  `db:"id"`
		Kind   string `db:"kind"`
		Change string `db:"change"`
	}
	if err := a.tx.SelectContext(ctx, &rows, `SELECT id, kind, change FROM _trigsync_conflicts
		WHERE kind IN ('error', 'held') AND resolved IS NULL ORDER BY id`); err != nil {
		return fmt.Errorf("read conflicts: %w", err)
	}
	for _, r := range rows {
		if !slices.Contains(kinds, r.Kind) || (len(ids) > 0 && !slices.Contains(ids, r.ID)) {
			continue
		}
		var c changelog.Change
		if err := json.Unmarshal([]byte(r.Change), &c); err != nil {
			return fmt.Errorf("conflict %d: %w", r.ID, err)
		}
		if c.Op == changelog.Schema {
			if err := a.retryMigration(ctx, r.ID, c, release, res); err != nil {
				return err
			}
			continue
		}
		c, lost, gone, problem, err := a.translate(c)
		if err != nil {
			return err
		}
		if gone {
			res.Dropped++
			if err := a.resolveConflict(ctx, r.ID, "dropped by a migration"); err != nil {
				return err
			}
			continue
		}
		var d changelog.Description
		var t schema.Table
		if problem == "" {
			d, t, problem = a.check(c)
			if release && problem != "" {
				d, t, problem = a.resolve(c)
			}
		}
		if problem == "" {
			if problem, err = a.waiting(ctx, c, r.ID); err != nil {
				return err
			}
		}
		if problem != "" {
			continue
		}
		if lost {
			res.Dropped++
		}
		_, refused, err := a.mergeOne(ctx, d, t, c)
		if err != nil {
			return err
		}
		if refused != nil {
			continue // still refused: the conflict stays
		}
		res.Applied++
		if r.Kind == "held" { // not in the log yet: log it as received
			origin, err := a.st.ref(ctx, c.Origin)
			if err != nil {
				return err
			}
			if err := a.appendLog(ctx, postponed{c, d, t, origin}); err != nil {
				return err
			}
		}
		if err := a.resolveConflict(ctx, r.ID, "applied"); err != nil {
			return err
		}
	}
	return nil
}

// retryMigration applies a held schema version once nothing holds it.
func (a *applier) retryMigration(ctx context.Context, id int64, c changelog.Change, release bool, res *Result) error {
	problem, err := a.tryMigration(ctx, c, id, release, res)
	if err != nil || problem != "" {
		return err
	}
	return a.resolveConflict(ctx, id, "applied")
}

func (a *applier) resolveConflict(ctx context.Context, id int64, how string) error {
	_, err := a.tx.ExecContext(ctx, `UPDATE _trigsync_conflicts SET resolved = ? WHERE id = ?`,
		how+" "+time.Now().UTC().Format(time.RFC3339), id)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", id, err)
	}
	return nil
}

// Action is what an operator does with conflicts.
type Action int

// The operator's actions.
const (
	Retry   Action = iota // merge failed changes again (after fixing the cause)
	Release               // apply held changes even if their stamps are ahead
	Discard               // drop them, keeping the record
)

// Resolve acts on the unresolved conflicts with the given ids (all when
// none are given) in one transaction and returns how many it resolved.
func Resolve(ctx context.Context, db *sqlx.DB, action Action, ids []int64, opts Options) (int, error) {
	var open int
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved IS NULL`); err != nil {
		return 0, fmt.Errorf("resolve conflicts: %w", err)
	}
	s, err := Begin(ctx, db, opts)
	if err != nil {
		return 0, err
	}
	defer s.Rollback()
	a, tx := s.a, s.tx
	res := &s.res
	switch action {
	case Retry:
		err = a.retry(ctx, []string{"error", "held"}, ids, false, res)
	case Release:
		err = a.retry(ctx, []string{"held"}, ids, true, res)
	case Discard:
		var list []int64
		if err = tx.SelectContext(ctx, &list, `SELECT id FROM _trigsync_conflicts WHERE resolved IS NULL`); err == nil {
			for _, id := range list {
				if len(ids) == 0 || slices.Contains(ids, id) {
					if err = a.resolveConflict(ctx, id, "discarded"); err != nil {
						break
					}
				}
			}
		}
	}
	if err != nil {
		return 0, err
	}
	var left int
	if err := tx.GetContext(ctx, &left, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved IS NULL`); err != nil {
		return 0, err
	}
	if _, err := s.Commit(ctx, "", 0, 0); err != nil {
		return 0, err
	}
	return open - left, nil
}
