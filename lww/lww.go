// Package lww decides merges by per-column last-write-wins over HLC stamps
// with row incarnations (docs/MERGE.md). It does no I/O: callers pass what
// they know of a row and get back what to write.
package lww

import "github.com/trigsync/trigsync/hlc"

// Stamp orders writes: by HLC, then by node id. The zero Stamp is older
// than every write.
type Stamp struct {
	HLC  hlc.Timestamp
	Node string
}

// Less reports whether s is older than o.
func (s Stamp) Less(o Stamp) bool {
	if s.HLC != o.HLC {
		return s.HLC < o.HLC
	}
	return s.Node < o.Node
}

// IsZero reports whether s is the zero stamp.
func (s Stamp) IsZero() bool { return s == Stamp{} }

// Op is the kind of a row change.
type Op uint8

// The row changes.
const (
	Insert Op = iota + 1
	Update
	Delete
	// Add adds deltas to counter cells (docs/MERGE.md, "Counter
	// columns"): it applies once to the incarnation it was made on,
	// whatever the stamps of the cells.
	Add
)

// Row is what a node knows of one row.
type Row struct {
	Incarnation Stamp // the greatest insert; zero for a row from before install
	Tombstone   Stamp // the greatest incarnation deleted (valid when Tombstoned)
	Tombstoned  bool
	Exists      bool // the row is in the table
}

// Change is a row change as the merge sees it.
type Change struct {
	Op          Op
	Stamp       Stamp
	Incarnation Stamp // for updates and deletes: the incarnation they were made on
}

// Write says what the applier must do to the table.
type Write uint8

// The writes.
const (
	Nothing  Write = iota
	Replace        // write the whole row from the insert's cells (a new incarnation)
	SetCells       // write the cells Decision.Cells names
	Remove         // delete the row
	AddCells       // add the change's deltas to the counter cells
)

// Decision is the outcome of one change on one row.
type Decision struct {
	Row       Row
	Write     Write
	Cells     []bool // for SetCells: which of the change's cells win
	Collision bool   // an insert met a live row of another incarnation: a notice for the user
}

// deleted reports whether incarnation inc is dead in row.
func (r Row) deleted(inc Stamp) bool { return r.Tombstoned && !r.Tombstone.Less(inc) }

// Decide applies c to row. cells holds, for an update, the stamp currently
// holding each of the change's cells (zero when none is known). Changes
// must arrive in causal order: an update or delete after the insert that
// began its incarnation (the applier's version vector sees to it).
func Decide(row Row, cells []Stamp, c Change) Decision {
	d := Decision{Row: row}
	switch c.Op {
	case Insert:
		d.Collision = row.Exists && row.Incarnation != c.Stamp
		if !row.Incarnation.Less(c.Stamp) {
			return d // an older or already known incarnation
		}
		d.Row.Incarnation = c.Stamp
		switch alive := !row.deleted(c.Stamp); {
		case alive:
			d.Row.Exists, d.Write = true, Replace
		case row.Exists:
			d.Row.Exists, d.Write = false, Remove
		}
	case Delete:
		if row.deleted(c.Incarnation) {
			return d // already known
		}
		d.Row.Tombstone, d.Row.Tombstoned = c.Incarnation, true
		if row.Exists && !c.Incarnation.Less(row.Incarnation) {
			d.Row.Exists, d.Write = false, Remove
		}
	case Update:
		if !row.Exists || c.Incarnation != row.Incarnation {
			return d // the row is gone, or this update belongs to another incarnation
		}
		d.Cells = make([]bool, len(cells))
		for i, s := range cells {
			if s.Less(c.Stamp) {
				d.Cells[i], d.Write = true, SetCells
			}
		}
	case Add:
		// Deltas commute: each counts once (the version vector sees to
		// that), on the incarnation it was made on, like an update.
		if row.Exists && c.Incarnation == row.Incarnation {
			d.Write = AddCells
		}
	}
	return d
}
