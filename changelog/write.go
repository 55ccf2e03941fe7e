package changelog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/schema"
)

// NodeRefs maps node ids to the short references the log and the merge
// state store. The empty id (the zero stamp's) is reference 0. It reads
// references as they are needed (Ref, Resolve): a hub that knows
// thousands of devices does not read them all for each transaction.
type NodeRefs struct {
	byID  map[string]int64
	byRef map[int64]string
}

// NewNodeRefs returns a map that knows only the empty id.
func NewNodeRefs() *NodeRefs {
	return &NodeRefs{byID: map[string]int64{"": 0}, byRef: map[int64]string{0: ""}}
}

// Resolve reads the node ids of the references ID does not know yet.
func (n *NodeRefs) Resolve(ctx context.Context, q sqlx.QueryerContext, refs ...int64) error {
	var missing []any
	for _, r := range refs {
		if _, ok := n.byRef[r]; !ok && !slices.Contains(missing, any(r)) {
			missing = append(missing, r)
		}
	}
	for len(missing) > 0 {
		group := missing[:min(len(missing), 500)]
		missing = missing[len(group):]
		var rows []struct {
			Ref    int64  `db:"ref"`
			NodeID string `db:"node_id"`
		}
		if err := sqlx.SelectContext(ctx, q, &rows, `SELECT ref, node_id FROM _trigsync_nodes WHERE ref IN (?`+
			strings.Repeat(",?", len(group)-1)+`)`, group...); err != nil {
			return fmt.Errorf("read node references: %w", err)
		}
		for _, r := range rows {
			n.byID[r.NodeID], n.byRef[r.Ref] = r.Ref, r.NodeID
		}
	}
	return nil
}

// Ref returns id's reference, creating it if needed (another writer in
// the transaction, a fork's MoveStamps say, may have added it since the
// references were read).
func (n *NodeRefs) Ref(ctx context.Context, tx *sqlx.Tx, id string) (int64, error) {
	if ref, ok := n.byID[id]; ok {
		return ref, nil
	}
	var ref int64
	err := tx.GetContext(ctx, &ref, `SELECT ref FROM _trigsync_nodes WHERE node_id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.GetContext(ctx, &ref, `INSERT INTO _trigsync_nodes(node_id) VALUES (?) RETURNING ref`, id)
	}
	if err != nil {
		return 0, fmt.Errorf("add node %s: %w", id, err)
	}
	n.byID[id], n.byRef[ref] = ref, id
	return ref, nil
}

// ID returns the node id of a reference Resolve or Ref read ("" when
// unknown).
func (n *NodeRefs) ID(ref int64) string { return n.byRef[ref] }

// Appender writes changes received from peers into the log, stamped and
// integrated, so that they can be forwarded. It buffers consecutive rows
// with the same columns and writes them in one multi-row INSERT; Flush
// writes what is buffered and returns the seq of the last row written.
type Appender struct {
	x    sqlx.ExecerContext
	cols string
	rows int
	args []any
	last int64
}

// appendBatch bounds the rows of one INSERT (SQLite allows 32,766 bound
// values; a row has up to 8 + 2×slots).
const appendBatch = 64

// NewAppender returns an Appender writing through x.
func NewAppender(x sqlx.ExecerContext) *Appender { return &Appender{x: x} }

// Append buffers change c under the local description d. Every column the
// change names must be a slot of d. An insert that lacks some of d's
// columns (made on an older schema version) gets masks naming the slots it
// carries, so that it is relayed without them: each receiver gives them
// their default, as this node did.
func (a *Appender) Append(ctx context.Context, d Description, c Change, origin, incNode int64) error {
	cols := []string{"hlc", "epoch", "tbl", "op", "origin", "origin_seq", "inc_hlc", "inc_node"}
	args := []any{int64(c.HLC), c.Epoch, d.ID, string(c.Op), origin, c.OriginSeq, int64(c.Incarnation), incNode}
	masks := map[int]int64{}
	partial := c.Op == Insert && len(c.Key)+len(c.Set) < len(d.Columns)
	for _, cells := range []Cells{c.Key, c.Set} {
		for _, cell := range cells {
			slot := d.Slot(cell.Column)
			if slot < 0 {
				return fmt.Errorf("append change to the log: %s has no column %s", schema.Quote(d.Table), schema.Quote(cell.Column))
			}
			cols = append(cols, ValueColumn(slot))
			args = append(args, cell.Value.SQL())
			if (c.Op == Update || c.Op == Add || partial) && d.Columns[slot].PK == 0 {
				masks[slot/MaskBits] |= 1 << (slot % MaskBits)
			}
		}
	}
	for k := 0; k*MaskBits < len(d.Columns) && (c.Op == Update || c.Op == Add || partial); k++ {
		if m, ok := masks[k]; ok || partial {
			cols, args = append(cols, MaskColumn(k)), append(args, m)
		}
	}
	return a.add(ctx, strings.Join(cols, ","), args)
}

// AppendMigration buffers change c of op Schema.
func (a *Appender) AppendMigration(ctx context.Context, c Change, origin int64) error {
	if c.Migration == nil {
		return fmt.Errorf("append change to the log: a schema change without its migration")
	}
	m := c.Migration
	return a.add(ctx, "hlc,epoch,tbl,op,origin,origin_seq,v0,v1,v2",
		[]any{int64(c.HLC), c.Epoch, 0, string(Schema), origin, c.OriginSeq, m.SQL, m.Version, m.Checksum})
}

// add buffers one row of the listed columns.
func (a *Appender) add(ctx context.Context, list string, args []any) error {
	if a.rows > 0 && (list != a.cols || a.rows == appendBatch) {
		if _, err := a.Flush(ctx); err != nil {
			return err
		}
	}
	a.cols, a.rows, a.args = list, a.rows+1, append(a.args, args...)
	return nil
}

// Flush writes the buffered rows and returns the seq of the last row
// written so far (0 when none was).
func (a *Appender) Flush(ctx context.Context) (int64, error) {
	if a.rows == 0 {
		return a.last, nil
	}
	row := "(?" + strings.Repeat(",?", strings.Count(a.cols, ",")) + ")"
	q := `INSERT INTO ` + LogTable + `(` + a.cols + `) VALUES ` + row + strings.Repeat(","+row, a.rows-1)
	res, err := a.x.ExecContext(ctx, q, a.args...)
	a.rows, a.args = 0, a.args[:0]
	if err != nil {
		return a.last, fmt.Errorf("append changes to the log: %w", err)
	}
	if a.last, err = res.LastInsertId(); err != nil {
		return a.last, fmt.Errorf("append changes to the log: %w", err)
	}
	return a.last, nil
}

// Slot returns the slot of the named column (matched as SQLite matches
// names), or -1.
func (d Description) Slot(column string) int {
	for i, c := range d.Columns {
		if strings.EqualFold(c.Name, column) {
			return i
		}
	}
	return -1
}
