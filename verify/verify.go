// Package verify compares the replicated tables of two nodes and lists the
// rows that differ. It knows no transport: a Source is one node's side of
// the comparison, DB reads a database, and the caller supplies the other
// side (another DB, or a client of the server's /v1/verify routes).
//
// A table's rows are taken in primary-key order. A range of them is
// summarised by a Digest: its row count and a 64-bit xxhash of the rows'
// exact values (storage class and bits: 1, 1.0 and '1' differ) with the
// columns in a canonical order, by name. Compare splits each table by
// position into a few ranges on the local side (reading keys only), asks
// both sides for the digests of those ranges at once, and descends only
// into the ranges that differ: split again on the side holding more of
// their rows, and listed row by row once small on both sides. Equal
// tables cost one request of a few digests each way.
//
// Rows whose key holds a NULL (SQLite allows it in a rowid table whose key
// is not an INTEGER PRIMARY KEY) fall in no range and are not compared.
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trigsync/trigsync/changelog"
)

// Table is a replicated table as one side sees it.
type Table struct {
	Name string `json:"name"`
	// Key holds the primary-key columns in key order.
	Key []string `json:"key"`
	// Columns holds every replicated column, the key's included, in the
	// canonical order (Canonical): rows and digests follow it.
	Columns []string `json:"columns"`
}

// Canonical sorts column names into the order digests use: by name
// without regard to ASCII case (as SQLite matches names), then by bytes.
func Canonical(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// sameLayout reports whether t and o have the same key and columns (names
// matched as SQLite matches them).
func (t Table) sameLayout(o Table) bool {
	eq := func(a, b []string) bool {
		return slices.EqualFunc(a, b, strings.EqualFold)
	}
	return eq(t.Key, o.Key) && eq(t.Columns, o.Columns)
}

// keyIndex returns the positions of the key columns among Columns.
func (t Table) keyIndex() []int {
	idx := make([]int, len(t.Key))
	for i, k := range t.Key {
		idx[i] = slices.IndexFunc(t.Columns, func(c string) bool { return strings.EqualFold(c, k) })
	}
	return idx
}

// Key is a primary-key value, in key order.
type Key []changelog.Value

// Range is the rows whose key is above After and at most Through, in key
// order; a nil After starts at the first row, a nil Through ends at the
// last.
type Range struct {
	After   Key `json:"after"`
	Through Key `json:"through"`
}

// Digest summarises the rows of a range.
type Digest struct {
	Rows int64  `json:"rows"`
	Hash uint64 `json:"hash,string"`
}

// Row is one row's values in the order of its Table's Columns.
type Row []changelog.Value

// Source is one node's side of a comparison.
type Source interface {
	// Tables returns the replicated tables, sorted by name.
	Tables(ctx context.Context) ([]Table, error)
	// Split returns, for each range of table, the keys that divide its
	// rows by position into up to parts parts of about the same number of
	// rows: each key ends a part (none for a range of fewer than two
	// rows). It reads keys only.
	Split(ctx context.Context, table string, ranges []Range, parts int) ([][]Key, error)
	// Digests summarises each range of table.
	Digests(ctx context.Context, table string, ranges []Range) ([]Digest, error)
	// Rows returns the rows of each range in key order, at most limit a
	// range.
	Rows(ctx context.Context, table string, ranges []Range, limit int) ([][]Row, error)
}

// Limits of one request to a Source, which a server enforces.
const (
	MaxRanges    = 256 // ranges in one Split or Digests request
	MaxParts     = 64  // parts one range is split into
	MaxRowRanges = 64  // ranges in one Rows request
	MaxRowsLimit = 256 // rows of one range in one Rows answer
)

// Options tune Compare.
type Options struct {
	// Tables restricts the comparison to these tables (matched as SQLite
	// matches names); empty: every table replicated on either side.
	Tables []string
	// Limit is how many differences the report keeps (all are counted);
	// 0: 20; negative: none.
	Limit int
	// Fanout is how many parts a range is split into (0: 16): a table's
	// first digests are of that many parts, so that a difference costs
	// no second read of the whole table;
	// Leaf is how many rows a range may hold on both sides for its rows
	// to be listed rather than split (0: 64).
	Fanout, Leaf int
}

// Diff is one difference.
type Diff struct {
	Table string `json:"table"`
	// Kind is "row" (Key names it) or "table" (Problem says what).
	Kind    string `json:"kind"`
	Problem string `json:"problem,omitempty"`
	// Key holds the row's key, in key order.
	Key changelog.Cells `json:"key,omitempty"`
	// Side is where the row is: "local", "peer" (on that side only) or
	// "both" (with different values in Columns).
	Side    string          `json:"side,omitempty"`
	Columns []string        `json:"columns,omitempty"`
	Local   changelog.Cells `json:"local,omitempty"` // the differing columns' values here
	Peer    changelog.Cells `json:"peer,omitempty"`  // and there
}

// Report is what Compare found.
type Report struct {
	Tables int   // tables compared
	Rows   int64 // rows of the local side in them
	// Differences counts every difference; Diffs holds the first
	// Options.Limit of them.
	Differences int
	Diffs       []Diff
	// Requests counts the calls made to the peer.
	Requests int
}

// Equal reports whether nothing differed.
func (r Report) Equal() bool { return r.Differences == 0 }

// ErrUnknownTable is returned for an Options.Tables name neither side replicates.
var ErrUnknownTable = errors.New("table not replicated on either side")

// Compare compares the replicated tables of local and peer.
func Compare(ctx context.Context, local, peer Source, opts Options) (Report, error) {
	if opts.Limit == 0 {
		opts.Limit = 20
	}
	if opts.Fanout < 2 {
		opts.Fanout = 16
	}
	opts.Fanout = min(opts.Fanout, MaxParts)
	if opts.Leaf <= 0 {
		opts.Leaf = 64
	}
	opts.Leaf = min(opts.Leaf, MaxRowsLimit-1)
	c := &comparison{local: local, peer: peer, opts: opts}
	var lt, pt []Table
	err := both(func() (err error) { lt, err = local.Tables(ctx); return }, func() (err error) { pt, err = peer.Tables(ctx); return })
	c.report.Requests++
	if err != nil {
		return c.report, err
	}
	find := func(ts []Table, name string) (Table, bool) {
		i := slices.IndexFunc(ts, func(t Table) bool { return strings.EqualFold(t.Name, name) })
		if i < 0 {
			return Table{}, false
		}
		return ts[i], true
	}
	names := opts.Tables
	if len(names) == 0 {
		for _, t := range lt {
			names = append(names, t.Name)
		}
		for _, t := range pt {
			if _, ok := find(lt, t.Name); !ok {
				names = append(names, t.Name)
			}
		}
		slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	}
	for _, name := range names {
		l, inLocal := find(lt, name)
		p, inPeer := find(pt, name)
		switch {
		case !inLocal && !inPeer:
			return c.report, fmt.Errorf("%q: %w", name, ErrUnknownTable)
		case !inPeer:
			c.add(Diff{Table: l.Name, Kind: "table", Problem: "replicated on the local side only"})
		case !inLocal:
			c.add(Diff{Table: p.Name, Kind: "table", Problem: "replicated on the peer only"})
		case !l.sameLayout(p):
			c.add(Diff{Table: l.Name, Kind: "table", Problem: fmt.Sprintf("different columns: key %v, columns %v here; key %v, columns %v on the peer",
				l.Key, l.Columns, p.Key, p.Columns)})
		default:
			if err := c.table(ctx, l, p); err != nil {
				return c.report, fmt.Errorf("compare %s: %w", l.Name, err)
			}
		}
	}
	return c.report, nil
}

type comparison struct {
	local, peer Source
	opts        Options
	report      Report
}

func (c *comparison) add(d Diff) {
	c.report.Differences++
	if len(c.report.Diffs) < c.opts.Limit {
		c.report.Diffs = append(c.report.Diffs, d)
	}
}

// pending is a range whose digests differ, to split on the side holding
// more of its rows.
type pending struct {
	r         Range
	peerSplit bool
}

// maxDepth bounds the descent: each level divides a range's rows by the
// fanout, so only tables that change while they are compared get near it.
const maxDepth = 64

func (c *comparison) table(ctx context.Context, lt, pt Table) error {
	name := lt.Name
	found := c.report.Differences
	level := []pending{{r: Range{}}} // the whole table, split on the local side
	var total Digest                 // the local side's, over the first level
	var differed bool                // some digest differed
	for depth := 0; len(level) > 0; depth++ {
		if depth == maxDepth {
			return errors.New("the ranges did not get smaller: is the table changing while it is compared?")
		}
		subs, err := c.split(ctx, name, level)
		if err != nil {
			return err
		}
		var ld, pd []Digest
		err = both(func() (err error) { ld, err = digests(ctx, c.local, name, subs); return },
			func() (err error) { pd, err = digests(ctx, c.peer, name, subs); return })
		c.report.Requests += (len(subs) + MaxRanges - 1) / MaxRanges
		if err != nil {
			return err
		}
		level = level[:0]
		var leaves []Range
		for i, r := range subs {
			if depth == 0 {
				total.Rows += ld[i].Rows
			}
			switch {
			case ld[i] == pd[i]:
				continue
			case ld[i].Rows <= int64(c.opts.Leaf) && pd[i].Rows <= int64(c.opts.Leaf):
				leaves = append(leaves, r)
			default:
				level = append(level, pending{r: r, peerSplit: pd[i].Rows > ld[i].Rows})
			}
			differed = true
		}
		if err := c.leaves(ctx, lt, pt, leaves); err != nil {
			return err
		}
	}
	c.report.Tables++
	c.report.Rows += total.Rows
	// Digests that differ with no row to show for it: rows the ranges
	// cannot reach (a NULL in a key column of a rowid table) or rows that
	// changed meanwhile. Never report equal then.
	if differed && c.report.Differences == found {
		c.add(Diff{Table: name, Kind: "table", Problem: "digests differ but no row does: a NULL in a key column, or rows written meanwhile?"})
	}
	return nil
}

// split divides each pending range into parts at the keys its splitting
// side gives.
func (c *comparison) split(ctx context.Context, table string, level []pending) ([]Range, error) {
	var byLocal, byPeer []Range
	for _, p := range level {
		if p.peerSplit {
			byPeer = append(byPeer, p.r)
		} else {
			byLocal = append(byLocal, p.r)
		}
	}
	var lk, pk [][]Key
	err := both(func() (err error) { lk, err = splits(ctx, c.local, table, byLocal, c.opts.Fanout); return },
		func() (err error) { pk, err = splits(ctx, c.peer, table, byPeer, c.opts.Fanout); return })
	c.report.Requests += (len(byPeer) + MaxRanges - 1) / MaxRanges
	if err != nil {
		return nil, err
	}
	var out []Range
	add := func(ranges []Range, keys [][]Key) {
		for i, r := range ranges {
			after := r.After
			for _, k := range keys[i] {
				out = append(out, Range{After: after, Through: k})
				after = k
			}
			out = append(out, Range{After: after, Through: r.Through})
		}
	}
	add(byLocal, lk)
	add(byPeer, pk)
	return out, nil
}

// splits asks s for the split keys of ranges, in requests of at most
// MaxRanges ranges.
func splits(ctx context.Context, s Source, table string, ranges []Range, parts int) ([][]Key, error) {
	var out [][]Key
	for len(ranges) > 0 {
		b := ranges[:min(len(ranges), MaxRanges)]
		ranges = ranges[len(b):]
		keys, err := s.Split(ctx, table, b, parts)
		if err != nil {
			return nil, err
		}
		if len(keys) != len(b) {
			return nil, errors.New("a side answered the wrong number of splits")
		}
		for _, ks := range keys {
			if len(ks) >= parts {
				return nil, errors.New("a side split a range into too many parts")
			}
		}
		out = append(out, keys...)
	}
	return out, nil
}

// digests asks s for the digests of ranges, in requests of at most
// MaxRanges ranges.
func digests(ctx context.Context, s Source, table string, ranges []Range) ([]Digest, error) {
	var out []Digest
	for len(ranges) > 0 {
		b := ranges[:min(len(ranges), MaxRanges)]
		ranges = ranges[len(b):]
		ds, err := s.Digests(ctx, table, b)
		if err != nil {
			return nil, err
		}
		if len(ds) != len(b) {
			return nil, errors.New("a side answered the wrong number of digests")
		}
		out = append(out, ds...)
	}
	return out, nil
}

// leaves lists the rows of small ranges on both sides and records how
// they differ.
func (c *comparison) leaves(ctx context.Context, lt, pt Table, ranges []Range) error {
	for len(ranges) > 0 {
		batch := ranges[:min(len(ranges), MaxRowRanges)]
		ranges = ranges[len(batch):]
		var lr, pr [][]Row
		err := both(func() (err error) { lr, err = c.local.Rows(ctx, lt.Name, batch, MaxRowsLimit); return },
			func() (err error) { pr, err = c.peer.Rows(ctx, pt.Name, batch, MaxRowsLimit); return })
		c.report.Requests++
		if err != nil {
			return err
		}
		if len(lr) != len(batch) || len(pr) != len(batch) {
			return errors.New("a side answered the wrong number of row lists")
		}
		for i := range batch {
			if len(lr[i]) >= MaxRowsLimit || len(pr[i]) >= MaxRowsLimit {
				return errors.New("a small range grew: is the table changing while it is compared?")
			}
			c.diffRows(lt, pt, lr[i], pr[i])
		}
	}
	return nil
}

// diffRows records how the rows of one range differ, in key order of the
// local side, then the peer's rows the local side lacks.
func (c *comparison) diffRows(lt, pt Table, local, peer []Row) {
	lk, pk := lt.keyIndex(), pt.keyIndex()
	keyOf := func(r Row, idx []int) string {
		var b []byte
		for _, i := range idx {
			b = appendValue(b, r[i])
		}
		return string(b)
	}
	peerRows := make(map[string]Row, len(peer))
	for _, r := range peer {
		peerRows[keyOf(r, pk)] = r
	}
	key := func(r Row, t Table, idx []int) changelog.Cells {
		cs := make(changelog.Cells, len(idx))
		for j, i := range idx {
			cs[j] = changelog.Cell{Column: t.Key[j], Value: r[i]}
		}
		return cs
	}
	for _, r := range local {
		k := keyOf(r, lk)
		p, ok := peerRows[k]
		if !ok {
			c.add(Diff{Table: lt.Name, Kind: "row", Key: key(r, lt, lk), Side: "local"})
			continue
		}
		delete(peerRows, k)
		d := Diff{Table: lt.Name, Kind: "row", Key: key(r, lt, lk), Side: "both"}
		for i, col := range lt.Columns {
			if !r[i].Equal(p[i]) {
				d.Columns = append(d.Columns, col)
				d.Local = append(d.Local, changelog.Cell{Column: col, Value: r[i]})
				d.Peer = append(d.Peer, changelog.Cell{Column: col, Value: p[i]})
			}
		}
		if len(d.Columns) > 0 {
			c.add(d)
		}
	}
	for _, r := range peer {
		if _, ok := peerRows[keyOf(r, pk)]; ok {
			c.add(Diff{Table: lt.Name, Kind: "row", Key: key(r, pt, pk), Side: "peer"})
		}
	}
}

// both runs f and g at once and returns the first error.
func both(f, g func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- g() }()
	err := f()
	if gerr := <-errc; err == nil {
		err = gerr
	}
	return err
}
