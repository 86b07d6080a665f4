package main

import (
	"context"
	"io"

	"github.com/clinic-ml/clinic/internal/board"
)

// runBoard is 'clinic board': everything is internal/board's.
func runBoard(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("board", board.Synopsis, stdout)
	addr := fs.String("addr", board.DefaultAddr, "HOST:PORT to listen on (another host than localhost opens the board to the network)")
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	return board.Serve(context.Background(), *addr, fs.Args(), stdout)
}
