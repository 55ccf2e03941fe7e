package applier

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/schema"
)

// integrateBatch bounds the rows Integrate holds in memory at once.
const integrateBatch = 5000

// Integrate stamps the log and records the changes the triggers wrote since
// the last integration in the merge state, in log order, writing each
// change's incarnation onto its log row. (Changes received from peers are
// integrated as they are applied.) Shipping and applying need both; it
// runs in the caller's write transaction, reading the schema through cache
// (nil: none).
func Integrate(ctx context.Context, tx *sqlx.Tx, cache *schema.Cache) error {
	if ok, err := Integrated(ctx, tx); err != nil || ok {
		return err // every row is stamped and integrated: the common case of a hub answering a device
	}
	done, err := IntegratedThrough(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := changelog.Stamp(ctx, tx); err != nil {
		return err
	}
	r, err := changelog.NewReader(ctx, tx)
	if err != nil {
		return err
	}
	st, err := newState(ctx, tx)
	if err != nil {
		return err
	}
	local, err := changelog.NodeID(ctx, tx)
	if err != nil {
		return err
	}
	localRef, err := st.ref(ctx, local)
	if err != nil {
		return err
	}
	// An insert's incarnation is its own stamp: one statement for all.
	if _, err := tx.ExecContext(ctx, `UPDATE `+changelog.LogTable+` SET inc_hlc = hlc, inc_node = ifnull(origin, ?)
		WHERE seq > ? AND seq <= (SELECT stamped_seq FROM `+changelog.ClockTable+`) AND op = 'I'`, localRef, done); err != nil {
		return fmt.Errorf("integrate: record incarnations: %w", err)
	}
	tables := map[string]schema.Table{}
	incs := &incarnations{q: st.q}
	for {
		changes, err := r.Read(ctx, tx, done, integrateBatch)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			break
		}
		// The batch's row states, read a hundred at a query; memory stays
		// bounded by a batch.
		if err := st.forget(ctx); err != nil {
			return err
		}
		byTable := map[string][]string{}
		for _, c := range changes {
			if !c.Op.RowChange() {
				continue // no row: a migration is in the schema already, a fork in the forks
			}
			t, ok := tables[c.Table]
			if !ok {
				if t, err = cache.Lookup(ctx, tx, c.Table); err != nil {
					return err
				}
				tables[c.Table] = t
			}
			byTable[t.Name] = append(byTable[t.Name], rowKey(c.Key))
		}
		for table, pks := range byTable {
			if err := st.prefetch(ctx, table, pks); err != nil {
				return err
			}
		}
		for _, c := range changes {
			done = c.Seq
			if !c.Op.RowChange() {
				continue
			}
			if err := integrateOne(ctx, st, incs, tables[c.Table], c); err != nil {
				return fmt.Errorf("integrate change %d: %w", c.Seq, err)
			}
		}
	}
	if err := incs.flush(ctx); err != nil {
		return err
	}
	if err := st.flush(ctx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE _trigsync_meta SET value = ? WHERE key = 'integrated_seq'`, done); err != nil {
		return fmt.Errorf("integrate: record progress: %w", err)
	}
	return nil
}

// integrateOne records one change the triggers wrote. Its origin is this
// node, or the node this file was copied from (reset-node-id).
func integrateOne(ctx context.Context, st *state, incs *incarnations, t schema.Table, c changelog.Change) error {
	pk := rowKey(c.Key)
	row, known, err := st.row(ctx, t.Name, pk)
	if err != nil {
		return err
	}
	s := lww.Stamp{HLC: c.HLC, Node: c.Origin}
	inc := row.Incarnation
	switch c.Op {
	case changelog.Insert:
		row.Incarnation, row.Exists = s, true
		if known { // a row without merge state has no cell stamps
			err = st.resetCells(ctx, t.Name, pk)
		}
	case changelog.Update:
		for _, cell := range c.Set {
			if err = st.saveCell(ctx, t.Name, pk, cell.Column, s); err != nil {
				return err
			}
		}
	case changelog.Delete:
		row.Tombstone, row.Tombstoned, row.Exists = inc, true, false
		if known {
			err = st.resetCells(ctx, t.Name, pk)
		}
	}
	if err != nil {
		return err
	}
	if err := st.saveRow(ctx, t.Name, pk, row); err != nil {
		return err
	}
	if c.Op == changelog.Insert {
		return nil // recorded for all inserts at once
	}
	ref, err := st.ref(ctx, inc.Node)
	if err != nil {
		return err
	}
	return incs.add(ctx, c.Seq, int64(inc.HLC), ref)
}

// incarnations writes the incarnations of updates and deletes onto their
// log rows, 64 rows a statement.
type incarnations struct {
	q    *stmts
	args []any // seq, inc_hlc, inc_node for each row
}

const incarnationRows = 64

func (w *incarnations) add(ctx context.Context, seq, incHLC, incRef int64) error {
	w.args = append(w.args, seq, incHLC, incRef)
	if len(w.args) == 3*incarnationRows {
		return w.flush(ctx)
	}
	return nil
}

func (w *incarnations) flush(ctx context.Context) error {
	n := len(w.args) / 3
	if n == 0 {
		return nil
	}
	q := `UPDATE ` + changelog.LogTable + ` SET inc_hlc = v.h, inc_node = v.n
		FROM (SELECT ? AS seq, ? AS h, ? AS n` + strings.Repeat(` UNION ALL SELECT ?, ?, ?`, n-1) + `) AS v
		WHERE ` + changelog.LogTable + `.seq = v.seq`
	if _, err := w.q.ExecContext(ctx, q, w.args...); err != nil {
		return fmt.Errorf("record incarnations: %w", err)
	}
	w.args = w.args[:0]
	return nil
}

// Integrated reports whether q's log is stamped and integrated through its
// last row: Integrate would have nothing to do. It only reads.
func Integrated(ctx context.Context, q sqlx.QueryerContext) (bool, error) {
	var done bool
	err := sqlx.GetContext(ctx, q, &done, `SELECT ifnull(max(seq), 0) <= (SELECT value FROM _trigsync_meta WHERE key = 'integrated_seq')
		FROM `+changelog.LogTable)
	if err != nil {
		return false, fmt.Errorf("read how far the log is integrated: %w", err)
	}
	return done, nil
}

// IntegratedThrough is the seq through which the log is integrated: the
// rows a peer may be sent.
func IntegratedThrough(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var seq int64
	if err := sqlx.GetContext(ctx, q, &seq, `SELECT value FROM _trigsync_meta WHERE key = 'integrated_seq'`); err != nil {
		return 0, fmt.Errorf("read how far the log is integrated: %w", err)
	}
	return seq, nil
}
