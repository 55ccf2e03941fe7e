package changelog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/schema"
)

// NodeRefs maps node ids to the short references the log and the merge
// state store. The empty id (the zero stamp's) is reference 0.
type NodeRefs struct {
	byID  map[string]int64
	byRef map[int64]string
}

// LoadNodeRefs reads the known references.
func LoadNodeRefs(ctx context.Context, q sqlx.QueryerContext) (*NodeRefs, error) {
	var rows []struct {
		Ref    int64  `db:"ref"`
		NodeID string `db:"node_id"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT ref, node_id FROM _trigsync_nodes`); err != nil {
		return nil, fmt.Errorf("read node references: %w", err)
	}
	n := &NodeRefs{byID: map[string]int64{"": 0}, byRef: map[int64]string{0: ""}}
	for _, r := range rows {
		n.byID[r.NodeID], n.byRef[r.Ref] = r.Ref, r.NodeID
	}
	return n, nil
}

// Ref returns id's reference, creating it if needed.
func (n *NodeRefs) Ref(ctx context.Context, tx *sqlx.Tx, id string) (int64, error) {
	if ref, ok := n.byID[id]; ok {
		return ref, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO _trigsync_nodes(node_id) VALUES (?)`, id)
	if err != nil {
		return 0, fmt.Errorf("add node %s: %w", id, err)
	}
	ref, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("add node %s: %w", id, err)
	}
	n.byID[id], n.byRef[ref] = ref, id
	return ref, nil
}

// ID returns the node id of a reference ("" when unknown).
func (n *NodeRefs) ID(ref int64) string { return n.byRef[ref] }

// Append writes a change received from a peer into the log under the local
// description d, stamped and integrated, so that it can be forwarded. Every
// column the change names must be a slot of d.
func Append(ctx context.Context, tx sqlx.ExecerContext, d Description, c Change, origin, incNode int64) (int64, error) {
	cols := []string{"hlc", "epoch", "tbl", "op", "origin", "origin_seq", "inc_hlc", "inc_node"}
	args := []any{int64(c.HLC), c.Epoch, d.ID, string(c.Op), origin, c.OriginSeq, int64(c.Incarnation), incNode}
	masks := map[int]int64{}
	for _, cells := range []Cells{c.Key, c.Set} {
		for _, cell := range cells {
			slot := d.Slot(cell.Column)
			if slot < 0 {
				return 0, fmt.Errorf("append change to the log: %s has no column %s", schema.Quote(d.Table), schema.Quote(cell.Column))
			}
			cols = append(cols, ValueColumn(slot))
			args = append(args, cell.Value.SQL())
			if c.Op == Update && d.Columns[slot].PK == 0 {
				masks[slot/MaskBits] |= 1 << (slot % MaskBits)
			}
		}
	}
	for k, m := range masks {
		cols, args = append(cols, MaskColumn(k)), append(args, m)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO `+LogTable+`(`+strings.Join(cols, ",")+`) VALUES (?`+
		strings.Repeat(",?", len(cols)-1)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("append change to the log: %w", err)
	}
	return res.LastInsertId()
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
