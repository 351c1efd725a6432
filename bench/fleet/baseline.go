package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the server's SQLite driver, for the transaction baseline

	"github.com/slipway-deploy/slipway/bench/internal/rig"
)

// httpBaseline returns the server's CPU time per GET /healthz, over n requests from conc
// keep-alive connections.
func httpBaseline(ctx context.Context, srv *rig.Server, n, conc int) (time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		return nil
	}
	for range conc { // open the connections before measuring
		if err := get(); err != nil {
			return 0, err
		}
	}
	cpu0, err := srv.CPU()
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / conc {
				if errs[w] = get(); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	cpu1, err := srv.CPU()
	if err != nil {
		return 0, err
	}
	return (cpu1 - cpu0) / time.Duration(n/conc*conc), nil
}

// sqliteBaseline returns this process's CPU time and the wall time per write transaction that
// updates one row, on a database opened as the server opens its own.
func sqliteBaseline(ctx context.Context, path string, n int) (cpu, wall time.Duration, err error) {
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)")
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, body TEXT)"); err != nil {
		return 0, 0, err
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1, 0, '')"); err != nil {
		return 0, 0, err
	}
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	start := time.Now()
	for i := range n {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE t SET v = ?, body = ? WHERE id = 1", i, "Succeeded"); err != nil {
			_ = tx.Rollback()
			return 0, 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
	}
	wall = time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	return (rusageCPU(r1) - rusageCPU(r0)) / time.Duration(n), wall / time.Duration(n), nil
}

func rusageCPU(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
