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
	// rows caches row states read or written in the current chunk; dirty
	// names those written but not yet flushed to _trigsync_rows.
	rows  map[string]rowState
	dirty map[string]bool
}

type rowState struct {
	row   lww.Row
	known bool
}

// rowID keys the cache.
func rowID(table, pk string) string { return table + "\x00" + pk }

// flushRows bounds the row states written in one statement.
const flushRows = 64

func newState(ctx context.Context, tx *sqlx.Tx) (*state, error) {
	return &state{tx: tx, q: newStmts(tx), refs: changelog.NewNodeRefs(), rows: map[string]rowState{}, dirty: map[string]bool{}}, nil
}

func (s *state) ref(ctx context.Context, node string) (int64, error) {
	return s.refs.Ref(ctx, s.tx, node)
}

// stamp makes a stamp of a reference read by resolve.
func (s *state) stamp(h int64, ref int64) lww.Stamp {
	return lww.Stamp{HLC: hlc.Timestamp(h), Node: s.refs.ID(ref)}
}

// row returns what the merge state knows of a row, and whether it knows
// it at all: a row without merge state is new to this node, or one from
// before install.
func (s *state) row(ctx context.Context, table, pk string) (lww.Row, bool, error) {
	if rs, ok := s.rows[rowID(table, pk)]; ok {
		return rs.row, rs.known, nil
	}
	r, known, err := s.readRow(ctx, table, pk)
	if err == nil {
		s.rows[rowID(table, pk)] = rowState{r, known}
	}
	return r, known, err
}

// metaRow is a row of _trigsync_rows.
type metaRow struct {
	PK       string        `db:"pk"`
	IncHLC   int64         `db:"inc_hlc"`
	IncNode  int64         `db:"inc_node"`
	TombHLC  sql.NullInt64 `db:"tomb_hlc"`
	TombNode sql.NullInt64 `db:"tomb_node"`
}

// refs are the node references the row holds.
func (m metaRow) refs() []int64 {
	if m.TombNode.Valid {
		return []int64{m.IncNode, m.TombNode.Int64}
	}
	return []int64{m.IncNode}
}

// resolve reads the node ids of references before stamp makes stamps of them.
func (s *state) resolve(ctx context.Context, refs ...int64) error {
	return s.refs.Resolve(ctx, s.tx, refs...)
}

// decode reads a merge-state row, its references resolved: the row exists unless a delete reached its
// incarnation.
func (s *state) decode(m metaRow) lww.Row {
	r := lww.Row{Incarnation: s.stamp(m.IncHLC, m.IncNode)}
	if m.TombHLC.Valid {
		r.Tombstone, r.Tombstoned = s.stamp(m.TombHLC.Int64, m.TombNode.Int64), true
	}
	r.Exists = !r.Tombstoned || r.Tombstone.Less(r.Incarnation)
	return r
}

func (s *state) readRow(ctx context.Context, table, pk string) (lww.Row, bool, error) {
	var m metaRow
	err := s.q.get(ctx, &m, `SELECT pk, inc_hlc, inc_node, tomb_hlc, tomb_node FROM _trigsync_rows WHERE tbl = ? AND pk = ?`, table, pk)
	if errors.Is(err, sql.ErrNoRows) {
		return lww.Row{}, false, nil
	}
	if err != nil {
		return lww.Row{}, false, fmt.Errorf("read merge state of %s: %w", schema.Quote(table), err)
	}
	if err := s.resolve(ctx, m.refs()...); err != nil {
		return lww.Row{}, false, err
	}
	return s.decode(m), true, nil
}

func (s *state) saveRow(ctx context.Context, table, pk string, r lww.Row) error {
	id := rowID(table, pk)
	s.rows[id], s.dirty[id] = rowState{r, true}, true
	if len(s.dirty) >= flushRows {
		return s.flush(ctx)
	}
	return nil
}

// flush writes the row states saved since the last flush, in one statement.
func (s *state) flush(ctx context.Context) error {
	if len(s.dirty) == 0 {
		return nil
	}
	var args []any
	for id := range s.dirty {
		table, pk, _ := strings.Cut(id, "\x00")
		r := s.rows[id].row
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
		args = append(args, table, pk, int64(r.Incarnation.HLC), incRef, tombHLC, tombRef)
	}
	q := `INSERT OR REPLACE INTO _trigsync_rows(tbl, pk, inc_hlc, inc_node, tomb_hlc, tomb_node) VALUES (?,?,?,?,?,?)` +
		strings.Repeat(",(?,?,?,?,?,?)", len(s.dirty)-1)
	if _, err := s.q.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("store merge state: %w", err)
	}
	clear(s.dirty)
	return nil
}

// prefetch flushes, forgets the previous chunk's rows, and reads the states
// of the given rows of table, a hundred keys a query.
func (s *state) prefetch(ctx context.Context, table string, pks []string) error {
	const group = 100
	for start := 0; start < len(pks); start += group {
		keys := pks[start:min(start+group, len(pks))]
		args := []any{table}
		for i := 0; i < group; i++ { // one statement shape: pad with the last key
			args = append(args, keys[min(i, len(keys)-1)])
		}
		var found []metaRow
		if err := s.q.selectx(ctx, &found, `SELECT pk, inc_hlc, inc_node, tomb_hlc, tomb_node FROM _trigsync_rows
			WHERE tbl = ? AND pk IN (?`+strings.Repeat(",?", group-1)+`)`, args...); err != nil {
			return fmt.Errorf("read merge state of %s: %w", schema.Quote(table), err)
		}
		for _, pk := range keys {
			if _, cached := s.rows[rowID(table, pk)]; !cached {
				s.rows[rowID(table, pk)] = rowState{}
			}
		}
		var refs []int64
		for _, m := range found {
			refs = append(refs, m.refs()...)
		}
		if err := s.resolve(ctx, refs...); err != nil {
			return err
		}
		for _, m := range found {
			if s.dirty[rowID(table, m.PK)] {
				continue
			}
			s.rows[rowID(table, m.PK)] = rowState{s.decode(m), true}
		}
	}
	return nil
}

// forget flushes and empties the cache: memory stays bounded by a chunk.
func (s *state) forget(ctx context.Context) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	clear(s.rows)
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
	refs := make([]int64, len(rows))
	for i, r := range rows {
		refs[i] = r.Node
	}
	if err := s.resolve(ctx, refs...); err != nil {
		return nil, err
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
