package changelog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/schema"
)

// Op is the kind of row change.
type Op string

// The row changes (counter deltas too), a schema change and a fork.
const (
	Insert Op = "I"
	Update Op = "U"
	Delete Op = "D"
	// Add is an update of counter columns (docs/MERGE.md, "Counter
	// columns"): its cells are deltas, added to the row's values. An
	// UPDATE that also changes other columns logs them in an Update row.
	Add    Op = "A"
	Schema Op = "S" // a migration: Change.Migration; no table, key or cells
	Forked Op = "F" // a restored node healed: Change.Fork; no table, key or cells
)

// Cell is one column's value.
type Cell struct {
	Column string
	Value  Value
}

// Cells marshal to a JSON object that keeps their order.
type Cells []Cell

// MarshalJSON writes {"column": value, …} in slot order.
func (cs Cells) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(c.Column)
		val, _ := c.Value.MarshalJSON()
		b.Write(name)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes, keeping the order. It
// scans the object itself: peers send millions of them, and the json
// package's token reader costs more than the rest of a change's decoding.
func (cs *Cells) UnmarshalJSON(b []byte) error {
	p := scanner{b: b}
	if !p.take('{') {
		return fmt.Errorf("cells: want a JSON object")
	}
	out := Cells{}
	for !p.take('}') {
		if len(out) > 0 && !p.take(',') {
			return fmt.Errorf("cells: want , or } at byte %d", p.i)
		}
		var c Cell
		var err error
		if c.Column, err = p.str(); err != nil {
			return fmt.Errorf("cells: %w", err)
		}
		if !p.take(':') {
			return fmt.Errorf("cells: want : after %q", c.Column)
		}
		if p.literal("null") {
			out = append(out, c)
			continue
		}
		s, err := p.str()
		if err == nil {
			c.Value, err = ParseValue(s)
		}
		if err != nil {
			return fmt.Errorf("cells: column %q: %w", c.Column, err)
		}
		out = append(out, c)
	}
	if p.space(); p.i != len(b) {
		return fmt.Errorf("cells: data after the object")
	}
	*cs = out
	return nil
}

// scanner reads the JSON of a Cells object.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// take skips space and the byte c, if it comes next.
func (p *scanner) take(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) literal(s string) bool {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string. A plain one (no escape, valid UTF-8, no control
// character) is sliced out; any other goes through the json package, so
// that both read every string alike.
func (p *scanner) str() (string, error) {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", fmt.Errorf("want a string at byte %d", p.i)
	}
	start, plain := p.i, true
	for p.i++; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			raw := p.b[start:p.i]
			if plain && utf8.Valid(raw) {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			err := json.Unmarshal(raw, &s)
			return s, err
		case c == '\\':
			plain = false
			p.i++ // the escaped byte cannot end the string
		case c < 0x20:
			plain = false
		}
	}
	return "", fmt.Errorf("unterminated string at byte %d", start)
}

// Change is one decoded log row.
type Change struct {
	Seq       int64         `json:"seq"`
	HLC       hlc.Timestamp `json:"hlc"`
	Epoch     int64         `json:"epoch"`
	Table     string        `json:"table"`
	Op        Op            `json:"op"`
	Origin    string        `json:"origin"`     // the node id that made the change
	OriginSeq int64         `json:"origin_seq"` // its seq there
	Key       Cells         `json:"key"`        // the primary key, in key order
	Set       Cells         `json:"set"`        // non-key columns written: all for I, changed for U; for A the deltas of the changed counters
	// Incarnation is the row's life the change was made on (docs/MERGE.md):
	// an insert's own stamp, for an update or delete the stamp of the insert
	// that began the row (0 and "" for a row from before install). Set when
	// the change is integrated into the merge state.
	Incarnation     hlc.Timestamp `json:"inc"`
	IncarnationNode string        `json:"inc_node"`
	// SchemaVersion is the schema version the change was made on: its
	// names are that version's (docs/MIGRATIONS.md).
	SchemaVersion int64 `json:"schema_version,omitempty"`
	// Migration is the schema version an op Schema change makes.
	Migration *Migration `json:"migration,omitempty"`
	// Fork is what an op Forked change records.
	Fork *Fork `json:"fork,omitempty"`
}

// RowChange reports whether op changes a row (and is not a schema
// version or a fork).
func (o Op) RowChange() bool { return o == Insert || o == Update || o == Delete || o == Add }

// fixedColumns is the number of columns Read selects before the masks.
const fixedColumns = 9

var slotColumn = regexp.MustCompile(`^([vm])([0-9]+)$`)

// Reader decodes log rows. It caches table descriptions, reloaded when a
// row references one it has not seen, and node ids, read as rows
// reference them.
type Reader struct {
	local  string
	values int // number of v columns
	masks  int // number of m columns
	descs  map[int64]Description
	nodes  *NodeRefs
}

// NewReader prepares to read the log of the database q reads from.
func NewReader(ctx context.Context, q sqlx.QueryerContext) (*Reader, error) {
	local, err := NodeID(ctx, q)
	if err != nil {
		return nil, err
	}
	var cols []string
	if err := sqlx.SelectContext(ctx, q, &cols,
		`SELECT name FROM pragma_table_info('`+LogTable+`')`); err != nil {
		return nil, fmt.Errorf("read changelog columns: %w", err)
	}
	r := &Reader{local: local, nodes: NewNodeRefs()}
	for _, c := range cols {
		m := slotColumn.FindStringSubmatch(c)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] == "v" {
			r.values = max(r.values, n+1)
		} else {
			r.masks = max(r.masks, n+1)
		}
	}
	if err := r.reload(ctx, q); err != nil {
		return nil, err
	}
	return r, nil
}

// ReaderCache keeps what NewReader reads (the log's value and mask slots,
// the table descriptions) for one schema (PRAGMA schema_version, which
// every CREATE, ALTER and DROP moves on) and node id, so that a node
// answering many peers reads it once per change of either, not once per
// request. Descriptions are only added, never changed in what a Reader
// decodes (one it does not know is read on the miss). The zero value is
// ready; a nil *ReaderCache reads every time.
type ReaderCache struct {
	mu      sync.Mutex
	version int64
	r       *Reader
}

// Reader is NewReader, from the cache while the schema and node id are
// those it was read for. Each Reader it returns is the caller's own.
func (c *ReaderCache) Reader(ctx context.Context, q sqlx.QueryerContext) (*Reader, error) {
	if c == nil {
		return NewReader(ctx, q)
	}
	var version int64
	if err := sqlx.GetContext(ctx, q, &version, `PRAGMA schema_version`); err != nil {
		return nil, fmt.Errorf("read the schema version: %w", err)
	}
	local, err := NodeID(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cached, cachedVersion := c.r, c.version
	c.mu.Unlock()
	if cached == nil || cachedVersion != version || cached.local != local {
		if cached, err = NewReader(ctx, q); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.version, c.r = version, cached
		c.mu.Unlock()
	}
	r := *cached // the descriptions are shared, read-only (reload replaces them)
	r.nodes = NewNodeRefs()
	return &r, nil
}

func (r *Reader) reload(ctx context.Context, q sqlx.QueryerContext) error {
	descs, err := Descriptions(ctx, q)
	r.descs = descs
	return err
}

// ReadBytes bounds the values one Read holds: it stops after the row that
// reaches it, so that a log of large blobs is read in bounded memory.
const ReadBytes = 8 << 20

// Size is what a change's values weigh in memory, roughly.
func (c Change) Size() int {
	n := 64
	for _, cs := range []Cells{c.Key, c.Set} {
		for _, cell := range cs {
			n += 16 + len(cell.Column) + len(cell.Value.Text) + len(cell.Value.Blob)
		}
	}
	return n
}

// Read returns up to limit stamped changes with seq greater than after, in
// seq order, fewer when their values pass ReadBytes. Rows not stamped yet
// (changelog.Stamp) are not returned.
func (r *Reader) Read(ctx context.Context, q sqlx.QueryerContext, after int64, limit int) ([]Change, error) {
	var sel strings.Builder
	sel.WriteString(`SELECT seq, hlc, epoch, tbl, op, origin, origin_seq, inc_hlc, inc_node`)
	for k := 0; k < r.masks; k++ {
		sel.WriteString(", " + MaskColumn(k))
	}
	for i := 0; i < r.values; i++ {
		sel.WriteString(", " + ValueColumn(i))
	}
	sel.WriteString(` FROM ` + LogTable + ` WHERE seq > ? AND seq <= (SELECT stamped_seq FROM ` + ClockTable + `)
		ORDER BY seq LIMIT ?`)
	rows, err := q.QueryContext(ctx, sel.String(), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read changelog: %w", err)
	}
	defer rows.Close()

	var out []Change
	size := 0
	raw := make([]any, fixedColumns+r.masks+r.values)
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read changelog: %w", err)
		}
		c, err := r.decode(ctx, q, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if size += c.Size(); size >= ReadBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read changelog: %w", err)
	}
	return out, nil
}

// node resolves a node reference; 0 is the zero stamp's empty node id.
func (r *Reader) node(ctx context.Context, q sqlx.QueryerContext, raw any) (string, error) {
	ref, ok := raw.(int64)
	if !ok {
		return "", fmt.Errorf("node reference is %T", raw)
	}
	if ref == 0 {
		return "", nil
	}
	if err := r.nodes.Resolve(ctx, q, ref); err != nil {
		return "", err
	}
	id := r.nodes.ID(ref)
	if id == "" {
		return "", fmt.Errorf("unknown node reference %d", ref)
	}
	return id, nil
}

func (r *Reader) decode(ctx context.Context, q sqlx.QueryerContext, raw []any) (Change, error) {
	var c Change
	seq, ok := raw[0].(int64)
	if !ok {
		return c, fmt.Errorf("changelog row: seq is %T", raw[0])
	}
	fail := func(format string, args ...any) (Change, error) {
		return Change{}, fmt.Errorf("changelog row %d: "+format, append([]any{seq}, args...)...)
	}
	ts, ok1 := raw[1].(int64)
	epoch, ok2 := raw[2].(int64)
	tbl, ok3 := raw[3].(int64)
	op, ok4 := raw[4].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fail("hlc, epoch, tbl or op has the wrong type")
	}
	c = Change{Seq: seq, HLC: hlc.Timestamp(ts), Epoch: epoch, Op: Op(op), Origin: r.local, OriginSeq: seq}
	var err error
	if raw[5] != nil {
		if c.Origin, err = r.node(ctx, q, raw[5]); err != nil {
			return fail("origin: %v", err)
		}
		if c.OriginSeq, ok = raw[6].(int64); !ok {
			return fail("origin_seq is %T", raw[6])
		}
	}
	if raw[7] != nil {
		inc, _ := raw[7].(int64)
		c.Incarnation = hlc.Timestamp(inc)
		if c.IncarnationNode, err = r.node(ctx, q, raw[8]); err != nil {
			return fail("inc_node: %v", err)
		}
	}
	if c.Op == Forked {
		return decodeFork(c, raw[fixedColumns+r.masks:])
	}
	if c.Op == Schema {
		return decodeMigration(c, raw[fixedColumns+r.masks:])
	}
	d, ok := r.descs[tbl]
	if !ok {
		if err := r.reload(ctx, q); err != nil {
			return c, err
		}
		if d, ok = r.descs[tbl]; !ok {
			return fail("unknown table description %d", tbl)
		}
	}
	if len(d.Columns) > r.values || (len(d.Columns)+MaskBits-1)/MaskBits > r.masks {
		return fail("description of %s has %d columns, the log %d slots", schema.Quote(d.Table), len(d.Columns), r.values)
	}
	c.Table, c.SchemaVersion = d.Table, d.SchemaVersion
	masks, values := raw[fixedColumns:fixedColumns+r.masks], raw[fixedColumns+r.masks:]
	cell := func(slot int) (Cell, error) {
		v, err := FromSQL(values[slot])
		return Cell{Column: d.Columns[slot].Name, Value: v}, err
	}
	for _, slot := range d.KeySlots() {
		kc, err := cell(slot)
		if err != nil {
			return fail("%v", err)
		}
		c.Key = append(c.Key, kc)
	}
	// An insert with masks carries only the slots they name (Appender).
	partial := false
	for _, m := range masks {
		partial = partial || (c.Op == Insert && m != nil)
	}
	for slot, col := range d.Columns {
		if col.PK != 0 {
			continue
		}
		switch c.Op {
		case Insert:
			if m, _ := masks[slot/MaskBits].(int64); partial && m&(1<<(slot%MaskBits)) == 0 {
				continue
			}
		case Update, Add:
			m, _ := masks[slot/MaskBits].(int64)
			if m&(1<<(slot%MaskBits)) == 0 {
				continue
			}
		case Delete:
			continue
		default:
			return fail("unknown op %q", op)
		}
		sc, err := cell(slot)
		if err != nil {
			return fail("%v", err)
		}
		c.Set = append(c.Set, sc)
	}
	return c, nil
}

// decodeMigration reads the slots of an op Schema row: v0 the SQL, v1 the
// version, v2 the checksum (docs/FORMAT.md).
func decodeMigration(c Change, values []any) (Change, error) {
	if len(values) >= 3 {
		sql, ok1 := values[0].(string)
		version, ok2 := values[1].(int64)
		sum, ok3 := values[2].(string)
		if ok1 && ok2 && ok3 {
			c.Migration = &Migration{Version: version, SQL: sql, Checksum: sum}
			return c, nil
		}
	}
	return c, fmt.Errorf("changelog row %d: a schema change without its SQL, version and checksum", c.Seq)
}
