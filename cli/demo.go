package cli

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/internal/sqlitedb"
)

//go:embed demo.sql
var demoSchema string

func demoCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "demo",
		Usage:     "create a demo shop database in DIR, install trigsync and show what it captures",
		ArgsUsage: "DIR",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageError("demo takes one argument, a directory; got %d", c.NArg())
			}
			dir := c.Args().First()
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, "shop.db")
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
			db, err := sqlitedb.Create(c.Context, path)
			if err != nil {
				return err
			}
			_, err = db.ExecContext(c.Context, "PRAGMA journal_mode=WAL;"+demoSchema)
			db.Close()
			if err != nil {
				return fmt.Errorf("create demo database: %w", err)
			}
			out := c.App.Writer
			step := func(title string, args ...string) error {
				fmt.Fprintf(out, "\n$ trigsync %s\n", title)
				return c.App.RunContext(c.Context, append([]string{c.App.Name}, args...))
			}
			fmt.Fprintf(out, "created %s: a shop with products and stock\n", path)
			if err := step("install "+path, "install", path); err != nil {
				return err
			}
			// Another client writes, as the app or the sqlite3 shell would.
			app, err := sqlitedb.Open(c.Context, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\nthe app sells two jugs and renames the beans:\n")
			_, err = app.ExecContext(c.Context, `
				UPDATE stock SET quantity = quantity - 2 WHERE shop = 'harbour' AND product_id LIKE '%02';
				UPDATE product SET name = 'Espresso beans, 1 kg' WHERE id LIKE '%01';
				INSERT INTO stock VALUES ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e02', 'station', 6);`)
			app.Close()
			if err != nil {
				return fmt.Errorf("write to the demo database: %w", err)
			}
			if err := step("status "+path, "status", path); err != nil {
				return err
			}
			return step("changes "+path, "changes", path)
		},
	}
}
