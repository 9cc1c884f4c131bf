// Command harbordb gives shell scripts PostgreSQL databases with Harbor's
// schema (version 180), for benchmarking harbor-import by hand.
//
//	harbordb serve                  start a container, create the template, print
//	                                ADMIN_DSN=..., run until interrupted, then remove it
//	harbordb create -admin DSN NAME create NAME from the template, print its DSN
//	harbordb drop -admin DSN NAME   drop NAME
//	harbordb copy -db DSN -rows N   time a COPY of N rows (the database floor), print seconds
//
// The admin DSN may also come from HARBORDB_ADMIN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/harbor-import/harbor-import/bench/benchdb"
	"github.com/harbor-import/harbor-import/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "harbordb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: harbordb serve | create NAME | drop NAME | copy -db DSN -rows N")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	admin := fs.String("admin", os.Getenv("HARBORDB_ADMIN"), "admin DSN of the server (serve: use this server instead of a container)")
	db := fs.String("db", "", "copy: DSN of the database to time the COPY in")
	rows := fs.Int("rows", 0, "copy: number of rows")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		testenv.SetTestcontainersEnv()
		srv, err := benchdb.Start(ctx, *admin)
		defer srv.Close(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		fmt.Printf("ADMIN_DSN=%s\nTEMPLATE=%s\n", srv.AdminDSN, benchdb.Template)
		<-ctx.Done()
		return nil
	case "create", "drop":
		if fs.NArg() != 1 || *admin == "" {
			return fmt.Errorf("usage: harbordb %s -admin DSN NAME", args[0])
		}
		srv := &benchdb.Server{AdminDSN: *admin}
		if args[0] == "drop" {
			return srv.Drop(ctx, fs.Arg(0))
		}
		dsn, err := srv.Create(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Println(dsn)
		return nil
	case "copy":
		if *db == "" || *rows <= 0 {
			return errors.New("usage: harbordb copy -db DSN -rows N")
		}
		d, err := benchdb.CopyFloor(ctx, *db, *rows)
		if err != nil {
			return err
		}
		fmt.Printf("%.3f\n", d.Seconds())
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
