package cli

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

//go:embed demo.sql
var demoSchema string

func demoCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "demo",
		Usage:     "run two nodes of a demo shop on loopback: both write, the device syncs with the hub over HTTP",
		ArgsUsage: "DIR",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageError("demo takes one argument, a directory; got %d", c.NArg())
			}
			return runDemo(c, c.Args().First())
		},
	}
}

func runDemo(c *ucli.Context, dir string) error {
	ctx, out := c.Context, c.App.Writer
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hubPath, devPath := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db")
	for _, p := range []string{hubPath, devPath} {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(p + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	hub, err := sqlitedb.Create(ctx, hubPath)
	if err != nil {
		return err
	}
	defer hub.Close()
	if _, err := hub.ExecContext(ctx, "PRAGMA journal_mode=WAL;"+demoSchema); err != nil {
		return fmt.Errorf("create the demo database: %w", err)
	}
	if _, err := triggers.Install(ctx, hub, triggers.Options{}); err != nil {
		return err
	}
	if _, err := hub.ExecContext(ctx, `VACUUM INTO ?`, devPath); err != nil {
		return fmt.Errorf("copy the hub for the device: %w", err)
	}
	dev, err := sqlitedb.Open(ctx, devPath)
	if err != nil {
		return err
	}
	defer dev.Close()
	tx, err := dev.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if _, _, err := changelog.ResetNodeID(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(out, "hub:    %s  (trigsync installed)\ndevice: %s  (a copy with its own node id)\n", hubPath, devPath)

	// The hub serves on loopback with a fresh token.
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	srv, err := server.New(ctx, server.Config{DB: hub, Token: token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "\nthe hub serves on %s (as `trigsync serve hub.db --listen %s`)\n", url, ln.Addr())

	// Both sides write while apart, as their apps would.
	fmt.Fprintf(out, "\nthe device sells two jugs and renames the beans; the hub raises the price of the beans\n")
	if _, err := dev.ExecContext(ctx, `
		UPDATE stock SET quantity = quantity - 2 WHERE shop = 'harbour' AND product_id LIKE '%02';
		UPDATE product SET name = 'Espresso beans, 1 kg' WHERE id LIKE '%01';`); err != nil {
		return err
	}
	if _, err := hub.ExecContext(ctx, `UPDATE product SET price = 26.5 WHERE id LIKE '%01';
		INSERT INTO stock VALUES ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e02', 'station', 6);`); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ trigsync sync device.db --peer %s\n", url)
	remote, err := shipper.NewRemote(url, shipper.RemoteConfig{Token: token})
	if err != nil {
		return err
	}
	s, err := shipper.SyncRemote(ctx, dev, remote, applier.Options{})
	if err != nil {
		return err
	}
	if err := printSummary(out, s); err != nil {
		return err
	}

	a, err := demoRows(hub)
	if err != nil {
		return err
	}
	b, err := demoRows(dev)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nhub:\n%s\ndevice:\n%s", a, b)
	if a != b {
		return errors.New("demo: the nodes differ")
	}
	fmt.Fprintf(out, "\nboth nodes agree: the name from the device and the price from the hub both survived.\n")
	return nil
}

func demoRows(db *sqlx.DB) (string, error) {
	var rows []string
	err := db.Select(&rows, `SELECT '  ' || name || ', ' || printf('%.2f', price) || ', stock ' ||
		(SELECT group_concat(shop || '=' || quantity, ' ') FROM (SELECT * FROM stock s WHERE s.product_id = p.id ORDER BY shop))
		FROM product p ORDER BY id`)
	return strings.Join(rows, "\n") + "\n", err
}
