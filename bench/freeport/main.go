// Command freeport prints N distinct free TCP ports on 127.0.0.1, one a
// line, for the benchmark servers to listen on.
//
//	go run ./bench/freeport 2
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	n := 1
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "usage: freeport [N]")
			os.Exit(2)
		}
	}
	// All held open until every one is chosen, so they differ.
	var held []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "freeport:", err)
			os.Exit(1)
		}
		held = append(held, l)
	}
	for _, l := range held {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
}
