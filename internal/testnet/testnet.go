// Package testnet gives tests servers on 127.0.0.1 at free ports below
// 32768: Linux hands out ports from 32768 up to clients and to listeners
// on port 0, and this project's tests keep out of that range.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Port range the listeners are taken from.
const (
	lowPort  = 10000
	highPort = 32767
)

// Listen returns a listener on 127.0.0.1 at a free port below 32768,
// closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := ListenLow()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ListenLow returns a listener on 127.0.0.1 at a free port below 32768,
// for test servers that outlive no test but are not given one; the
// caller closes it.
func ListenLow() (net.Listener, error) {
	var last error
	for range 500 {
		port := lowPort + rand.IntN(highPort-lowPort+1)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free port on 127.0.0.1 below 32768: %w", last)
}

// Port returns a port below 32768 that was free a moment ago, for a
// program that binds it itself.
func Port(t testing.TB) int {
	t.Helper()
	ln := Listen(t)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// Server starts h on a Listen listener; it is closed when the test ends.
func Server(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = Listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
