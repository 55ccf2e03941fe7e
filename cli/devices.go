package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/sqlitedb"
)

func devicesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "devices",
		Usage: "manage the per-device credentials a hub accepts beside the shared token",
		Description: "Each device gets its own token, stored hashed, bound to the node id of its\n" +
			"first request (or --node). It may push only its own node's changes (a --hub\n" +
			"credential may relay others'). A revoke holds from the next request.",
		Subcommands: []*ucli.Command{
			{
				Name:      "add",
				Usage:     "make a device credential and print its token, once",
				ArgsUsage: "NAME DB",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "node", Usage: "bind the token to node `ID` now (default: the node id of its first request)"},
					&ucli.BoolFlag{Name: "hub", Usage: "a hub credential: it may relay changes of other origins"},
				},
				Action: devicesAdd,
			},
			{
				Name:      "list",
				Usage:     "list the device credentials: node, last seen, version, lag, pending, open conflicts",
				ArgsUsage: "DB",
				Flags:     []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "one JSON object per line", EnvVars: env("json")}},
				Action:    devicesList,
			},
			{
				Name:      "revoke",
				Usage:     "revoke a device credential: its next request is refused (401)",
				ArgsUsage: "NAME DB",
				Action:    devicesRevoke,
			},
		},
	}
}

// deviceArgs opens the database of a devices subcommand: its last argument,
// after NAME when it takes one.
func deviceArgs(c *ucli.Context, named, writes bool) (name string, db *sqlx.DB, path string, err error) {
	want := 1
	if named {
		want = 2
	}
	if c.NArg() != want {
		return "", nil, "", usageError("devices %s takes %s; got %d arguments", c.Command.Name, c.Command.ArgsUsage, c.NArg())
	}
	if named {
		name = c.Args().First()
	}
	path = c.Args().Get(want - 1)
	if db, err = sqlitedb.Open(c.Context, path); err != nil {
		return "", nil, "", err
	}
	db, path, err = installed(c, db, path, writes)
	return name, db, path, err
}

func devicesAdd(c *ucli.Context) error {
	name, db, path, err := deviceArgs(c, true, true)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, err := devices.Add(c.Context, db, name, c.String("node"), c.Bool("hub"), time.Now())
	if errors.Is(err, devices.ErrBadName) || errors.Is(err, devices.ErrExists) || errors.Is(err, devices.ErrBadNode) {
		return usageError("%s: %v", path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := fmt.Fprintln(c.App.Writer, tok); err != nil {
		return err
	}
	bound := "the node id of its first request"
	if n := c.String("node"); n != "" {
		bound = "node " + n
	}
	fmt.Fprintf(c.App.ErrWriter, "device %s added to %s, bound to %s: the token above is shown only once "+
		"(only its hash is kept); give it to the device as TRIGSYNC_TOKEN or in a --token-file\n", name, path, bound)
	return nil
}

func devicesList(c *ucli.Context) error {
	_, db, path, err := deviceArgs(c, false, false)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := devices.Report(c.Context, db, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		for _, d := range list {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "NAME\tNODE\tHUB\tCREATED\tLAST SEEN\tVERSION\tREVOKED\tPENDING\tLAG\tCONFLICTS\n")
	for _, d := range list {
		pending, lag := "-", "-"
		if d.Pending != nil {
			pending, lag = fmt.Sprint(*d.Pending), (time.Duration(*d.Lag) * time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", d.Name, nodeOf(d.Device), d.Hub,
			d.Created.Format(time.RFC3339), when(d.LastSeen), or(strings.ReplaceAll(d.Version, "\t", " "), "-"),
			when(d.Revoked), pending, lag, d.Conflicts)
	}
	return w.Flush()
}

func devicesRevoke(c *ucli.Context) error {
	name, db, path, err := deviceArgs(c, true, true)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := devices.Revoke(c.Context, db, name, time.Now())
	if errors.Is(err, devices.ErrUnknown) {
		return usageError("%s has no device named %q (see trigsync devices list)", path, name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "device %s revoked at %s\n", d.Name, d.Revoked.Format(time.RFC3339))
	return err
}

func or(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// when is a time for a table: "-" when none.
func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// nodeOf is how devices list shows the node a credential is bound to.
func nodeOf(d devices.Device) string {
	switch {
	case d.Node == "":
		return "(unbound)"
	case d.Released:
		return d.Node + " (released: binds to its next new node id)"
	}
	return d.Node
}
