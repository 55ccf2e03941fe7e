package lww

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// add is an update of counter cells: their deltas.
func add(h uint64, node string, inc Stamp, kv ...string) applied {
	return applied{"k", Change{Op: Add, Stamp: st(h, node), Incarnation: inc}, vals(kv...)}
}

// TestCounterWorkedExamples checks the counter examples of docs/MERGE.md
// ("Counter columns") in every causal order, each change delivered twice.
func TestCounterWorkedExamples(t *testing.T) {
	i1 := st(1, "A") // the incarnation the first insert begins
	for _, tc := range []struct {
		name    string
		changes []applied
		want    string
	}{
		{"three sales on three nodes all count", []applied{
			ins(1, "A", "q", "100", "x", "0"), add(5, "A", i1, "q", "-3"), add(6, "B", i1, "q", "-2"), add(7, "C", i1, "q", "-1")},
			"k: q=94 x=0"},
		{"a delta ignores stamps: the earlier one still counts", []applied{
			ins(1, "A", "q", "100", "x", "0"), add(9, "B", i1, "q", "-2"), add(5, "C", i1, "q", "-1")},
			"k: q=97 x=0"},
		{"set outright is a delta from the value its writer saw", []applied{
			ins(1, "A", "q", "100", "x", "0"), add(5, "B", i1, "q", "-50"), add(6, "C", i1, "q", "-3")},
			"k: q=47 x=0"},
		{"other columns stay last-write-wins", []applied{
			ins(1, "A", "q", "100", "x", "0"), add(5, "A", i1, "q", "-1"), upd(6, "A", i1, "x", "a"),
			add(7, "B", i1, "q", "2"), upd(8, "B", i1, "x", "b")},
			"k: q=101 x=b"},
		{"a delete ends the incarnation: a concurrent delta is dropped", []applied{
			ins(1, "A", "q", "100", "x", "0"), del(10, "A", i1), add(15, "B", i1, "q", "-3")},
			""},
		{"a re-insert starts from its own value", []applied{
			ins(1, "A", "q", "100", "x", "0"), del(10, "A", i1), ins(12, "C", "q", "20", "x", "1"),
			add(15, "B", i1, "q", "-3"), add(16, "C", st(12, "C"), "q", "-1")},
			"k: q=19 x=1"},
		{"concurrent inserts: the greater one's value and deltas", []applied{
			ins(5, "A", "q", "100", "x", "0"), ins(6, "B", "q", "50", "x", "0"),
			add(7, "A", st(5, "A"), "q", "-1"), add(8, "B", st(6, "B"), "q", "-2")},
			"k: q=48 x=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orders := causalOrders(tc.changes)
			for _, order := range orders {
				if !insertsFirst(tc.changes, order) {
					continue
				}
				m := NewModel()
				for _, i := range append(order, order...) { // each change twice
					a := tc.changes[i]
					m.Apply(a.key, a.c, a.values)
				}
				if got := m.Dump(); got != tc.want {
					t.Fatalf("order %v: got %q want %q", order, got, tc.want)
				}
			}
		})
	}
}

// insertsFirst: a change made on an incarnation comes after the insert
// that began it (causal delivery).
func insertsFirst(changes []applied, order []int) bool {
	seen := map[Stamp]bool{}
	for _, i := range order {
		c := changes[i].c
		if c.Op == Insert {
			seen[c.Stamp] = true
		} else if !c.Incarnation.IsZero() && !seen[c.Incarnation] {
			return false
		}
	}
	return true
}

// TestCounterDecide: an Add applies to its own live incarnation only, and
// never looks at cell stamps.
func TestCounterDecide(t *testing.T) {
	live := Row{Incarnation: st(5, "A"), Exists: true}
	for _, tc := range []struct {
		name string
		row  Row
		inc  Stamp
		want Write
	}{
		{"live, same incarnation", live, st(5, "A"), AddCells},
		{"older incarnation", live, st(4, "A"), Nothing},
		{"row deleted", Row{Incarnation: st(5, "A"), Tombstone: st(5, "A"), Tombstoned: true}, st(5, "A"), Nothing},
		{"row from before install", Row{Exists: true}, Stamp{}, AddCells},
	} {
		d := Decide(tc.row, []Stamp{st(99, "Z")}, Change{Op: Add, Stamp: st(6, "B"), Incarnation: tc.inc})
		if d.Write != tc.want || d.Row != tc.row {
			t.Errorf("%s: write %d row %+v, want %d and the row unchanged", tc.name, d.Write, d.Row, tc.want)
		}
	}
}

// TestCounterConvergence: nodes increment, decrement and set a counter
// from their own views while rows are deleted and inserted again; every
// node and a fresh model fed all changes in any causal order with
// duplicates agree, and the counter is the inserted value plus every
// delta made on its incarnation.
func TestCounterConvergence(t *testing.T) {
	for seed := uint64(0); seed < 1000; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		var nodes []*simNode
		for i := 0; i < 3+r.IntN(3); i++ {
			nodes = append(nodes, &simNode{id: string(rune('A' + i)), model: NewModel(), has: map[Stamp]bool{}})
		}
		for step := 0; step < 60; step++ {
			n := nodes[r.IntN(len(nodes))]
			if r.IntN(4) == 0 {
				from := nodes[r.IntN(len(nodes))]
				for _, a := range from.log[:r.IntN(len(from.log)+1)] {
					n.receive(a)
				}
				continue
			}
			n.clock += uint64(r.IntN(3)) + 1
			key := fmt.Sprintf("k%d", r.IntN(3))
			row, _ := n.model.Row(key)
			s := Stamp{HLC: hlcOf(n.clock), Node: n.id}
			var a applied
			switch {
			case !row.Exists:
				a = applied{key, Change{Op: Insert, Stamp: s}, vals("q", fmt.Sprint(r.IntN(100)), "x", n.id)}
			case r.IntN(6) == 0:
				a = applied{key, Change{Op: Delete, Stamp: s, Incarnation: row.Incarnation}, nil}
			case r.IntN(4) == 0:
				a = applied{key, Change{Op: Update, Stamp: s, Incarnation: row.Incarnation}, vals("x", fmt.Sprint(n.id, step))}
			default:
				a = applied{key, Change{Op: Add, Stamp: s, Incarnation: row.Incarnation}, vals("q", fmt.Sprint(r.IntN(11)-5))}
			}
			n.receive(a)
		}
		logs := make([][]applied, len(nodes))
		for i, n := range nodes {
			logs[i] = n.log
		}
		for _, n := range nodes {
			interleave(r, logs, n.receive)
		}
		fresh := NewModel()
		interleave(r, logs, func(a applied) {
			fresh.Apply(a.key, a.c, a.values)
			fresh.Apply(a.key, a.c, a.values) // a duplicate
		})
		want := fresh.Dump()
		for _, n := range nodes {
			if got := n.model.Dump(); got != want {
				t.Fatalf("seed %d: node %s\n%s\nfresh model\n%s", seed, n.id, got, want)
			}
		}
	}
}
