package lww

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Model applies the rules to rows held in memory. It is the reference the
// applier is tested against, and the rules' specification by example.
type Model struct {
	rows map[string]*modelRow
	seen map[Stamp]bool // the changes applied: a repeat changes nothing (the applier's version vector)
	// Sum adds a counter cell's delta to its value (the cell's value is ""
	// when the row has none): an Add change's cells are deltas. The default
	// reads both as decimal integers, a missing or non-integer value as 0.
	Sum func(value, delta string) string
}

type modelRow struct {
	row   Row
	cells map[string]modelCell
}

type modelCell struct {
	stamp Stamp
	value string
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{rows: map[string]*modelRow{}, seen: map[Stamp]bool{}, Sum: sumIntegers}
}

func sumIntegers(value, delta string) string {
	v, _ := strconv.ParseInt(value, 10, 64)
	d, _ := strconv.ParseInt(delta, 10, 64)
	return strconv.FormatInt(v+d, 10)
}

// Apply applies a change to the row key; values are the change's cells by
// column (all columns for an insert; the deltas of its counters for an
// Add). It reports a collision notice. A change seen before (by stamp)
// changes nothing.
func (m *Model) Apply(key string, c Change, values map[string]string) bool {
	if m.seen[c.Stamp] {
		return false // delivered again: what the version vector skips
	}
	m.seen[c.Stamp] = true
	r := m.rows[key]
	if r == nil {
		r = &modelRow{cells: map[string]modelCell{}}
		m.rows[key] = r
	}
	cols := make([]string, 0, len(values))
	for col := range values {
		cols = append(cols, col)
	}
	sort.Strings(cols)
	stamps := make([]Stamp, len(cols))
	for i, col := range cols {
		stamps[i] = r.cells[col].stamp
	}
	d := Decide(r.row, stamps, c)
	r.row = d.Row
	switch d.Write {
	case Replace:
		r.cells = map[string]modelCell{}
		for col, v := range values {
			r.cells[col] = modelCell{c.Stamp, v}
		}
	case SetCells:
		for i, col := range cols {
			if d.Cells[i] {
				r.cells[col] = modelCell{c.Stamp, values[col]}
			}
		}
	case Remove:
		r.cells = map[string]modelCell{}
	case AddCells: // the cell keeps its stamp: deltas do not take part in last-write-wins
		for _, col := range cols {
			cell := r.cells[col]
			cell.value = m.Sum(cell.value, values[col])
			r.cells[col] = cell
		}
	}
	return d.Collision
}

// Row returns what the model knows of key.
func (m *Model) Row(key string) (Row, bool) {
	r, ok := m.rows[key]
	if !ok {
		return Row{}, false
	}
	return r.row, true
}

// Dump renders the live rows, sorted: equal dumps mean equal tables.
func (m *Model) Dump() string {
	var lines []string
	for key, r := range m.rows {
		if !r.row.Exists {
			continue
		}
		var cells []string
		for col, c := range r.cells {
			cells = append(cells, col+"="+c.value)
		}
		sort.Strings(cells)
		lines = append(lines, fmt.Sprintf("%s: %s", key, strings.Join(cells, " ")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Seed adds a row that existed before trigsync was installed.
func (m *Model) Seed(key string, values map[string]string) {
	r := &modelRow{row: Row{Exists: true}, cells: map[string]modelCell{}}
	for col, v := range values {
		r.cells[col] = modelCell{value: v}
	}
	m.rows[key] = r
}
