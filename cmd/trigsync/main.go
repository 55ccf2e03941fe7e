// Command trigsync replicates SQLite databases across nodes; see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

import "github.com/trigsync/trigsync/cli"

// version is stamped by the Makefile (-ldflags -X main.version=…).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, version, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
