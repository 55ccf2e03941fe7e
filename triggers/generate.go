package triggers

import (
	"fmt"
	"strings"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/schema"
)

// The trigger kinds, the letter in each trigger's name.
const (
	onInsert    = "i"
	onUpdate    = "u" // an UPDATE that keeps the primary key
	onKeyUpdate = "k" // an UPDATE that changes the primary key
	onDelete    = "d"
	onAdd       = "a" // an UPDATE of counter columns that keeps the primary key
)

// kinds lists the trigger kinds in the order they are installed.
var kinds = [...]string{onInsert, onUpdate, onAdd, onKeyUpdate, onDelete}

// TriggerName is the name of trigsync's trigger of one kind on table.
// Names are unique because the kind letter sits at a fixed position.
func TriggerName(kind, table string) string { return changelog.Prefix + kind + "_" + table }

// wallClock is the statement's wall-clock time as SQLite's Julian day
// number, the cheapest reading SQLite 3.40 offers (no unixepoch('subsec')).
// changelog.Stamp converts it to milliseconds and an HLC stamp.
const wallClock = `julianday('now')`

// notApplying keeps the triggers quiet while an applier writes (echo
// suppression, docs/FORMAT.md).
const notApplying = `(SELECT applying FROM ` + changelog.ClockTable + `)=0`

// Generate returns, by kind, the CREATE TRIGGER statements that capture
// changes of t under description d (whose slots are t's non-generated
// columns). Each trigger is one INSERT … VALUES: SQLite compiles trigger
// programs again for every statement it prepares, so their size is the
// cost of capture for unprepared SQL (docs/BENCHMARKS.md).
func Generate(t schema.Table, d changelog.Description) map[string]string {
	g := generator{t: t, d: d}
	for slot, c := range d.Columns {
		col, _ := t.Column(c.Name)
		switch {
		case c.PK != 0:
			g.key = append(g.key, slot)
		case c.Counter:
			g.counters = append(g.counters, slot)
		default:
			g.rest = append(g.rest, slot)
		}
		aff := t.Affinity(col)
		g.loose = append(g.loose, aff != schema.AffinityInteger && aff != schema.AffinityReal && aff != schema.AffinityText)
	}
	out := map[string]string{
		onInsert: g.trigger(onInsert, "INSERT", "", g.row("I", "NEW", g.all())),
		onDelete: g.trigger(onDelete, "DELETE", "", g.row("D", "OLD", g.key)),
		// UPDATE OF: SQLite compiles only the triggers whose columns the
		// statement sets, so ordinary updates never pay for this one.
		onKeyUpdate: g.trigger(onKeyUpdate, "UPDATE OF "+g.names(g.key), g.changed(g.key),
			g.row("D", "OLD", g.key)+g.row("I", "NEW", g.all())),
	}
	if len(g.rest) > 0 {
		out[onUpdate] = g.trigger(onUpdate, "UPDATE OF "+g.names(g.rest),
			"NOT ("+g.changed(g.key)+") AND ("+g.changed(g.rest)+")",
			g.row("U", "NEW", append(append([]int{}, g.key...), g.rest...)))
	}
	// A counter's update is logged as its delta, in a row of op A of its
	// own (docs/MERGE.md, "Counter columns"); the columns that are not
	// counters go in the U row above. Tables without counters get no such
	// trigger and pay nothing.
	if len(g.counters) > 0 {
		out[onAdd] = g.trigger(onAdd, "UPDATE OF "+g.names(g.counters),
			"NOT ("+g.changed(g.key)+") AND ("+g.changed(g.counters)+")",
			g.row("A", "NEW", append(append([]int{}, g.key...), g.counters...)))
	}
	return out
}

type generator struct {
	t        schema.Table
	d        changelog.Description
	key      []int  // key slots
	rest     []int  // non-key slots that are not counters
	counters []int  // counter slots
	loose    []bool // per slot: the affinity keeps 1 and 1.0 apart, so compare typeof too
}

func (g generator) all() []int {
	all := make([]int, len(g.d.Columns))
	for i := range all {
		all[i] = i
	}
	return all
}

func (g generator) names(slots []int) string {
	names := make([]string, len(slots))
	for i, s := range slots {
		names[i] = schema.Quote(g.d.Columns[s].Name)
	}
	return strings.Join(names, ",")
}

func (g generator) col(ref string, slot int) string {
	return ref + "." + schema.Quote(g.d.Columns[slot].Name)
}

// changedOne is true when the column's value differs in type or bits; the
// explicit collation keeps a NOCASE column's 'a' → 'A' a change.
func (g generator) changedOne(slot int) string {
	s := g.col("OLD", slot) + " IS NOT " + g.col("NEW", slot) + " COLLATE BINARY"
	if g.loose[slot] {
		s += " OR typeof(" + g.col("OLD", slot) + ")<>typeof(" + g.col("NEW", slot) + ")"
	}
	return s
}

func (g generator) changed(slots []int) string {
	parts := make([]string, len(slots))
	for i, s := range slots {
		parts[i] = "(" + g.changedOne(s) + ")"
	}
	return strings.Join(parts, " OR ")
}

// masks returns, per mask column, the expression of the mask of an update
// row of the given slots.
func (g generator) masks(slots []int) map[int]string {
	masks := map[int]string{}
	for _, s := range slots {
		k := s / changelog.MaskBits
		if masks[k] != "" {
			masks[k] += "|"
		}
		masks[k] += fmt.Sprintf("((%s)<<%d)", g.changedOne(s), s%changelog.MaskBits)
	}
	return masks
}

// row is one INSERT into the log of the given slots of ref (NEW or OLD). An
// update row carries masks, and its non-key slots hold a value only when the
// column changed.
func (g generator) row(op, ref string, slots []int) string {
	cols := []string{"hlc", "tbl", "op"}
	vals := []string{wallClock, fmt.Sprint(g.d.ID), "'" + op + "'"}
	if op == "U" || op == "A" {
		masks := g.masks(g.rest)
		if op == "A" {
			masks = g.masks(g.counters)
		}
		for k := 0; k*changelog.MaskBits < len(g.d.Columns); k++ {
			if m, ok := masks[k]; ok {
				cols, vals = append(cols, changelog.MaskColumn(k)), append(vals, m)
			}
		}
	}
	for _, s := range slots {
		cols = append(cols, changelog.ValueColumn(s))
		v := g.col(ref, s)
		switch {
		case op == "A" && g.d.Columns[s].PK == 0:
			v = "CASE WHEN " + g.changedOne(s) + " THEN " + g.delta(s) + " END"
		case op == "U" && g.d.Columns[s].PK == 0:
			v = "CASE WHEN " + g.changedOne(s) + " THEN " + v + " END"
		}
		vals = append(vals, v)
	}
	return "INSERT INTO " + changelog.LogTable + "(" + strings.Join(cols, ",") + ") VALUES(" +
		strings.Join(vals, ",") + ");\n"
}

// delta is the change of a counter column: NEW - OLD, an old NULL counting
// as 0. A new value that is not a number (NULL, text, a blob) cannot be
// reached from a delta on the other nodes: the write is refused.
func (g generator) delta(slot int) string {
	msg := fmt.Sprintf("trigsync: %s.%s is a counter column: set it to a number (NULL, text or a blob cannot be replicated as a delta)",
		schema.Quote(g.t.Name), schema.Quote(g.d.Columns[slot].Name))
	return "CASE WHEN typeof(" + g.col("NEW", slot) + ") IN ('integer','real') THEN " + g.col("NEW", slot) +
		"-ifnull(" + g.col("OLD", slot) + ",0) ELSE RAISE(ABORT,'" + strings.ReplaceAll(msg, "'", "''") + "') END"
}

func (g generator) trigger(kind, event, when, body string) string {
	cond := notApplying
	if when != "" {
		cond += " AND (" + when + ")"
	}
	return "CREATE TRIGGER " + schema.Quote(TriggerName(kind, g.t.Name)) +
		" AFTER " + event + " ON " + schema.Quote(g.t.Name) + " FOR EACH ROW WHEN " + cond +
		" BEGIN\n" + body + "END"
}
