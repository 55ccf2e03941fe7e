// Package applier merges changes into a database: it keeps the merge state
// of docs/MERGE.md (row incarnations, cell stamps, the per-origin version
// vector), integrates the node's own changes into it, and applies changes
// from peers in one transaction, asking package lww what wins. It knows
// nothing of the network.
package applier

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/schema"
)

// rowKey is the canonical text of a primary key: the JSON array of its
// values' tagged forms. Equal keys on every node give equal text.
func rowKey(key changelog.Cells) string {
	parts := make([]string, len(key))
	for i, c := range key {
		parts[i] = c.Value.String()
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

// state reads and writes the merge state inside one transaction.
type state struct {
	tx   *sqlx.Tx
	q    *stmts
	refs *changelog.NodeRefs
}

func newState(ctx context.Context, tx *sqlx.Tx) (*state, error) {
	refs, err := changelog.LoadNodeRefs(ctx, tx)
	if err != nil {
		return nil, err
	}
	return &state{tx: tx, q: newStmts(tx), refs: refs}, nil
}

func (s *state) ref(ctx context.Context, node string) (int64, error) {
	return s.refs.Ref(ctx, s.tx, node)
}

func (s *state) stamp(h int64, ref int64) lww.Stamp {
	return lww.Stamp{HLC: hlc.Timestamp(h), Node: s.refs.ID(ref)}
}

// row returns what the merge state knows of a row, and whether it knows
// it at all: a row without merge state is new to this node, or one from
// before install.
func (s *state) row(ctx context.Context, table, pk string) (lww.Row, bool, error) {
	var m struct {
		IncHLC   int64         `db:"inc_hlc"`
		IncNode  int64         `db:"inc_node"`
		TombHLC  sql.NullInt64 `db:"tomb_hlc"`
		TombNode sql.NullInt64 `db:"tomb_node"`
	}
	err := s.q.get(ctx, &m, `SELECT inc_hlc, inc_node, tomb_hlc, tomb_node FROM _trigsync_rows WHERE tbl = ? AND pk = ?`, table, pk)
	if errors.Is(err, sql.ErrNoRows) {
		return lww.Row{}, false, nil
	}
	if err != nil {
		return lww.Row{}, false, fmt.Errorf("read merge state of %s: %w", schema.Quote(table), err)
	}
	r := lww.Row{Incarnation: s.stamp(m.IncHLC, m.IncNode)}
	if m.TombHLC.Valid {
		r.Tombstone, r.Tombstoned = s.stamp(m.TombHLC.Int64, m.TombNode.Int64), true
	}
	// The row exists unless a delete reached its incarnation.
	r.Exists = !r.Tombstoned || r.Tombstone.Less(r.Incarnation)
	return r, true, nil
}

func (s *state) saveRow(ctx context.Context, table, pk string, r lww.Row) error {
	incRef, err := s.ref(ctx, r.Incarnation.Node)
	if err != nil {
		return err
	}
	var tombHLC, tombRef any
	if r.Tombstoned {
		ref, err := s.ref(ctx, r.Tombstone.Node)
		if err != nil {
			return err
		}
		tombHLC, tombRef = int64(r.Tombstone.HLC), ref
	}
	if _, err := s.q.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_rows(tbl, pk, inc_hlc, inc_node, tomb_hlc, tomb_node)
		VALUES (?, ?, ?, ?, ?, ?)`, table, pk, int64(r.Incarnation.HLC), incRef, tombHLC, tombRef); err != nil {
		return fmt.Errorf("store merge state of %s: %w", schema.Quote(table), err)
	}
	return nil
}

// cells returns the stamps holding the named cells: a cell no update won
// holds its incarnation's stamp.
func (s *state) cells(ctx context.Context, table, pk string, inc lww.Stamp, cols []string) ([]lww.Stamp, error) {
	var rows []struct {
		Col  string `db:"col"`
		HLC  int64  `db:"hlc"`
		Node int64  `db:"node"`
	}
	if err := s.q.selectx(ctx, &rows, `SELECT col, hlc, node FROM _trigsync_cells WHERE tbl = ? AND pk = ?`,
		table, pk); err != nil {
		return nil, fmt.Errorf("read cell stamps of %s: %w", schema.Quote(table), err)
	}
	out := make([]lww.Stamp, len(cols))
	for i, col := range cols {
		out[i] = inc
		for _, r := range rows {
			if strings.EqualFold(r.Col, col) {
				out[i] = s.stamp(r.HLC, r.Node)
			}
		}
	}
	return out, nil
}

func (s *state) saveCell(ctx context.Context, table, pk, col string, st lww.Stamp) error {
	ref, err := s.ref(ctx, st.Node)
	if err != nil {
		return err
	}
	if _, err := s.q.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_cells(tbl, pk, col, hlc, node) VALUES (?, ?, ?, ?, ?)`,
		table, pk, col, int64(st.HLC), ref); err != nil {
		return fmt.Errorf("store cell stamp of %s: %w", schema.Quote(table), err)
	}
	return nil
}

// resetCells forgets the row's cell stamps: a new incarnation, or none.
func (s *state) resetCells(ctx context.Context, table, pk string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM _trigsync_cells WHERE tbl = ? AND pk = ?`, table, pk); err != nil {
		return fmt.Errorf("reset cell stamps of %s: %w", schema.Quote(table), err)
	}
	return nil
}

// keyWhere is the WHERE clause matching the row with this primary key;
// column names come from the local schema.
func keyWhere(t schema.Table, key changelog.Cells) (string, []any) {
	conds := make([]string, len(key))
	args := make([]any, len(key))
	for i, c := range key {
		col, _ := t.Column(c.Column)
		conds[i] = schema.Quote(col.Name) + " = ?"
		args[i] = c.Value.SQL()
	}
	return strings.Join(conds, " AND "), args
}
