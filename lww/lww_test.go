package lww

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func st(h uint64, node string) Stamp { return Stamp{HLC: 0 + hlcOf(h), Node: node} }

type applied struct {
	key    string
	c      Change
	values map[string]string
}

func ins(h uint64, node string, kv ...string) applied {
	return applied{"k", Change{Op: Insert, Stamp: st(h, node)}, vals(kv...)}
}
func upd(h uint64, node string, inc Stamp, kv ...string) applied {
	return applied{"k", Change{Op: Update, Stamp: st(h, node), Incarnation: inc}, vals(kv...)}
}
func del(h uint64, node string, inc Stamp) applied {
	return applied{"k", Change{Op: Delete, Stamp: st(h, node), Incarnation: inc}, nil}
}

func vals(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestWorkedExamples checks docs/MERGE.md's examples in every order.
func TestWorkedExamples(t *testing.T) {
	seed := func(m *Model) { m.Seed("k", vals("x", "0", "y", "0")) }
	for _, tc := range []struct {
		name    string
		changes []applied
		want    string
	}{
		{"different columns both survive", []applied{upd(5, "A", Stamp{}, "x", "1"), upd(6, "B", Stamp{}, "y", "2")}, "k: x=1 y=2"},
		{"equal HLC: greater node id wins", []applied{upd(5, "A", Stamp{}, "x", "1"), upd(5, "B", Stamp{}, "x", "2")}, "k: x=2 y=0"},
		{"equal values from different nodes", []applied{upd(5, "A", Stamp{}, "x", "7"), upd(5, "B", Stamp{}, "x", "7")}, "k: x=7 y=0"},
		{"delete beats a concurrent later update", []applied{del(10, "A", Stamp{}), upd(15, "B", Stamp{}, "x", "9")}, ""},
		{"re-insert after delete; old-incarnation update loses", []applied{
			del(10, "A", Stamp{}), upd(15, "B", Stamp{}, "x", "9"), ins(12, "C", "x", "3", "y", "3")}, "k: x=3 y=3"},
		{"a delete of the old incarnation spares the new one", []applied{
			del(5, "B", Stamp{}), ins(8, "B", "x", "3", "y", "3"), del(10, "A", Stamp{})}, "k: x=3 y=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range causalOrders(tc.changes) {
				m := NewModel()
				seed(m)
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

func TestIncarnations(t *testing.T) {
	m := NewModel()
	// Two writers insert one key concurrently: the greater stamp wins whole.
	if m.Apply("k", ins(5, "A", "x", "1", "y", "1").c, vals("x", "1", "y", "1")) {
		t.Fatal("first insert is no collision")
	}
	if !m.Apply("k", ins(6, "B", "x", "2", "y", "2").c, vals("x", "2", "y", "2")) {
		t.Fatal("second live insert of one key must be reported")
	}
	// A's update of its own (losing) incarnation does not apply.
	m.Apply("k", upd(7, "A", st(5, "A"), "x", "9").c, vals("x", "9"))
	m.Apply("k", upd(7, "B", st(6, "B"), "y", "8").c, vals("y", "8"))
	if got := m.Dump(); got != "k: x=2 y=8" {
		t.Fatalf("got %q", got)
	}
	// A delete of the current incarnation, and an update racing it.
	m.Apply("k", del(9, "A", st(6, "B")).c, nil)
	m.Apply("k", upd(20, "B", st(6, "B"), "x", "late").c, vals("x", "late"))
	if got := m.Dump(); got != "" {
		t.Fatalf("delete must win: %q", got)
	}
	// A re-insert after seeing the delete.
	m.Apply("k", ins(21, "C", "x", "3", "y", "3").c, vals("x", "3", "y", "3"))
	if got := m.Dump(); got != "k: x=3 y=3" {
		t.Fatalf("re-insert: %q", got)
	}
}

// causalOrders returns the orders of changes that keep each node's own
// changes in their given order (what delivery guarantees).
func causalOrders(changes []applied) [][]int {
	var out [][]int
	for _, p := range permutations(len(changes)) {
		ok := true
		for i := range p {
			for j := i + 1; j < len(p); j++ {
				a, b := changes[p[i]], changes[p[j]]
				if a.c.Stamp.Node == b.c.Stamp.Node && b.c.Stamp.Less(a.c.Stamp) {
					ok = false
				}
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// interleave delivers every log in its own order, interleaved at random:
// a causal order, since each log holds what its node had seen before each
// of its own changes.
func interleave(r *rand.Rand, logs [][]applied, deliver func(applied)) {
	pos := make([]int, len(logs))
	for {
		var open []int
		for i := range logs {
			if pos[i] < len(logs[i]) {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return
		}
		i := open[r.IntN(len(open))]
		deliver(logs[i][pos[i]])
		pos[i]++
	}
}

// simNode is a node of the convergence simulation: its own model, clock
// and log of every change it made or received.
type simNode struct {
	id    string
	clock uint64
	model *Model
	log   []applied
	has   map[Stamp]bool
}

func (n *simNode) receive(a applied) {
	if n.has[a.c.Stamp] {
		return
	}
	n.has[a.c.Stamp] = true
	n.clock = max(n.clock, uint64(a.c.Stamp.HLC)) // the HLC receive rule
	n.model.Apply(a.key, a.c, a.values)
	n.log = append(n.log, a)
}

// TestConvergence: nodes write from their own views, gossip in random
// order, and finally every node, and a fresh model fed everything in a
// random order with duplicates, hold the same rows.
func TestConvergence(t *testing.T) {
	for seed := uint64(0); seed < 2000; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		var nodes []*simNode
		for i := 0; i < 3+r.IntN(3); i++ {
			n := &simNode{id: string(rune('A' + i)), model: NewModel(), has: map[Stamp]bool{}}
			n.model.Seed("k0", vals("x", "s", "y", "s"))
			nodes = append(nodes, n)
		}
		for step := 0; step < 60; step++ {
			n := nodes[r.IntN(len(nodes))]
			if r.IntN(4) == 0 { // gossip: a prefix of another node's log, in its order
				from := nodes[r.IntN(len(nodes))]
				for _, a := range from.log[:r.IntN(len(from.log)+1)] {
					n.receive(a)
				}
				continue
			}
			n.clock += uint64(r.IntN(3)) // the wall clock advances, or not
			n.clock++
			key := fmt.Sprintf("k%d", r.IntN(4))
			row, _ := n.model.Row(key)
			s := Stamp{HLC: hlcOf(n.clock), Node: n.id}
			var a applied
			switch {
			case !row.Exists:
				a = applied{key, Change{Op: Insert, Stamp: s}, vals("x", n.id+"i", "y", n.id+"i")}
			case r.IntN(4) == 0:
				a = applied{key, Change{Op: Delete, Stamp: s, Incarnation: row.Incarnation}, nil}
			default:
				v := vals("x", fmt.Sprint(n.id, step))
				if r.IntN(2) == 0 {
					v["y"] = fmt.Sprint(n.id, step, "y")
				}
				a = applied{key, Change{Op: Update, Stamp: s, Incarnation: row.Incarnation}, v}
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
		fresh := &simNode{model: NewModel(), has: map[Stamp]bool{}}
		fresh.model.Seed("k0", vals("x", "s", "y", "s"))
		interleave(r, logs, func(a applied) {
			fresh.model.Apply(a.key, a.c, a.values) // duplicates too
			fresh.receive(a)
		})
		want := fresh.model.Dump()
		for _, n := range nodes {
			if got := n.model.Dump(); got != want {
				t.Fatalf("seed %d: node %s\n%s\nfresh model\n%s", seed, n.id, got, want)
			}
		}
	}
}
