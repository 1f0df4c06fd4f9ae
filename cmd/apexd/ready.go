package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
)

// checkReady asks the apexd of this configuration, at http.addr, for
// /readyz: 0 when it answers 200, 1 otherwise. It is the image's health
// check, which has no HTTP client of its own; an unspecified listen
// address (0.0.0.0, ::) is asked on loopback.
func checkReady(ctx context.Context, configFile string, stderr io.Writer) int {
	cfg, err := config.Load(configFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "http.addr %q: %v\n", cfg.HTTP.Addr, err)
		return 1
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", url, err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "%s: %s\n", url, res.Status)
		return 1
	}
	return 0
}
