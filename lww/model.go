package lww

import (
	"fmt"
	"sort"
	"strings"
)

// Model applies the rules to rows held in memory. It is the reference the
// applier is tested against, and the rules' specification by example.
type Model struct {
	rows map[string]*modelRow
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
func NewModel() *Model { return &Model{rows: map[string]*modelRow{}} }

// Apply applies a change to the row key; values are the change's cells by
// column (all columns for an insert). It reports a collision notice.
func (m *Model) Apply(key string, c Change, values map[string]string) bool {
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
