package applier

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"
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
