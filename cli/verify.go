package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/verify"
)

// ExitDifferent is verify's exit code when the nodes differ; a comparison
// that could not be made exits ExitUsage instead of ExitError, as diff(1)
// does (docs/CLI.md).
const ExitDifferent = 1

func verifyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "verify",
		Usage:     "compare the replicated tables of this node and a peer; list the rows that differ",
		ArgsUsage: "DB",
		Description: "--peer is another database file (opened read-only) or the URL of a node\n" +
			"running trigsync serve. Over HTTP the nodes exchange digests of key ranges\n" +
			"and only descend into the ranges that differ: equal nodes exchange one request\n" +
			"of 16 digests per table. Prints one line per differing row (table, key, where, the differing\n" +
			"columns), at most --limit, then a count of the rest and a summary line. Exits 0\n" +
			"when the tables are equal, 1 when they differ, 2 or 3 when they could not be\n" +
			"compared. Reads only; compare nodes that are not being written to, or expect\n" +
			"the changes in flight to show.",
		Flags: append(append([]ucli.Flag{
			&ucli.StringFlag{Name: "peer", Usage: "the peer: a database `FILE` or an http(s):// URL (required)", EnvVars: env("peer")},
			&ucli.BoolFlag{Name: "json", Usage: "print one JSON object per difference, then a summary object", EnvVars: env("json")},
			&ucli.IntFlag{Name: "limit", Value: 20, Usage: "list at most `N` differences (all are counted; 0: none)", EnvVars: env("limit")},
			&ucli.StringSliceFlag{Name: "table", Usage: "compare only table `T` (repeatable, or comma-separated)", EnvVars: env("table")},
		}, tokenFlags()...), tlsClientFlags()...),
		Action: func(c *ucli.Context) error {
			err := runVerify(c)
			var coder ucli.ExitCoder
			if err != nil && !errors.As(err, &coder) && exitCode(err) == ExitError {
				return ucli.Exit("trigsync: "+err.Error(), ExitUsage) // 1 means "different"
			}
			return err
		},
	}
}

func runVerify(c *ucli.Context) error {
	// Checked here rather than by the flag's Required: urfave/cli would
	// exit 1, which means "different".
	if c.String("peer") == "" {
		return usageError("verify needs --peer FILE or --peer URL")
	}
	if c.Int("limit") < 0 {
		return usageError("--limit %d: want 0 or more", c.Int("limit"))
	}
	db, path, err := installedArg(c, false)
	if err != nil {
		return err
	}
	defer db.Close()
	local, err := verify.NewDB(c.Context, db)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	peerArg := c.String("peer")
	var peer verify.Source
	if strings.Contains(peerArg, "://") {
		r, err := remote(c, peerArg)
		if err != nil {
			return err
		}
		peer = r.Verifier()
	} else {
		pdb, err := sqlitedb.OpenReadOnly(c.Context, peerArg)
		if err != nil {
			return err
		}
		defer pdb.Close()
		if err := requireInstalled(c, pdb, peerArg); err != nil {
			return err
		}
		if peer, err = verify.NewDB(c.Context, pdb); err != nil {
			return fmt.Errorf("%s: %w", peerArg, err)
		}
	}
	limit := c.Int("limit")
	if limit == 0 {
		limit = -1 // list none
	}
	rep, err := verify.Compare(c.Context, local, peer, verify.Options{Tables: tableList(c.StringSlice("table")), Limit: limit})
	if err != nil {
		return fmt.Errorf("verify %s against %s: %w", path, peerArg, err)
	}
	if c.Bool("json") {
		err = printVerifyJSON(c.App.Writer, rep)
	} else {
		err = printVerify(c.App.Writer, rep)
	}
	if err != nil {
		return err
	}
	if !rep.Equal() {
		return ucli.Exit("", ExitDifferent)
	}
	return nil
}

// VerifySummary is the last line of `verify --json` (docs/CLI.md).
type VerifySummary struct {
	Kind        string `json:"kind"` // "summary"
	Equal       bool   `json:"equal"`
	Differences int    `json:"differences"`
	Listed      int    `json:"listed"`
	Tables      int    `json:"tables"`
	Rows        int64  `json:"rows"`
	Requests    int    `json:"requests"`
}

func printVerifyJSON(w io.Writer, rep verify.Report) error {
	enc := json.NewEncoder(w)
	for _, d := range rep.Diffs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return enc.Encode(VerifySummary{Kind: "summary", Equal: rep.Equal(), Differences: rep.Differences, Listed: len(rep.Diffs),
		Tables: rep.Tables, Rows: rep.Rows, Requests: rep.Requests})
}

func printVerify(w io.Writer, rep verify.Report) error {
	var b strings.Builder
	cells := func(cs changelog.Cells) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = c.Column + "=" + c.Value.String()
		}
		return strings.Join(parts, " ")
	}
	for _, d := range rep.Diffs {
		switch {
		case d.Kind == "table":
			fmt.Fprintf(&b, "%s: %s\n", d.Table, d.Problem)
		case d.Side == "local":
			fmt.Fprintf(&b, "%s %s: only on the local side\n", d.Table, cells(d.Key))
		case d.Side == "peer":
			fmt.Fprintf(&b, "%s %s: only on the peer\n", d.Table, cells(d.Key))
		default:
			fmt.Fprintf(&b, "%s %s: %s differ: local %s; peer %s\n", d.Table, cells(d.Key),
				strings.Join(d.Columns, ", "), cells(d.Local), cells(d.Peer))
		}
	}
	if more := rep.Differences - len(rep.Diffs); more > 0 && len(rep.Diffs) > 0 {
		fmt.Fprintf(&b, "… and %d more\n", more)
	}
	plural := func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	what := fmt.Sprintf("%s, %s", plural(int64(rep.Tables), "table", "tables"), plural(rep.Rows, "row", "rows"))
	if rep.Equal() {
		fmt.Fprintf(&b, "equal: %s compared\n", what)
	} else {
		fmt.Fprintf(&b, "different: %s in %s compared\n", plural(int64(rep.Differences), "difference", "differences"), what)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
