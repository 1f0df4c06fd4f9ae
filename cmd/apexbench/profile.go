package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profileAll runs the sign-in, the account detail and the consultation again for o.duration
// each, apart from the measured runs, while apexd records a CPU profile and
// its allocations: the files go to o.profileDir, for `go tool pprof`.
func profileAll(e *env, o options) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	uids := e.pop.bigUIDs
	signIn := func() {
		run(o.concurrency/2, o.duration, 0, func(i int) error {
			return e.call("POST", "/api/v1/auth/login", "", map[string]string{"identifier": pick(uids, i), "password": userPassword}, 200)
		})
	}
	detail := func() {
		run(o.concurrency, o.duration, 0, func(i int) error {
			return e.call("GET", "/api/v1/accounts/"+pick(uids, i), e.token, nil, 200)
		})
	}
	consult := func() {
		run(1, o.duration, 0, func(int) error { return e.consultBig() })
	}
	for _, p := range []struct {
		name string
		load func()
	}{{"signin", signIn}, {"detail", detail}, {"consultation", consult}} {
		if err := e.profile(filepath.Join(o.profileDir, p.name), o.duration, p.load); err != nil {
			return fmt.Errorf("profile %s: %w", p.name, err)
		}
	}
	fmt.Printf("  profiles in %s: go tool pprof -top bin/apexd %s/signin-cpu.pprof; go tool pprof -sample_index=alloc_space -base %s/signin-allocs-before.pprof bin/apexd %s/signin-allocs-after.pprof\n",
		o.profileDir, o.profileDir, o.profileDir, o.profileDir)
	return nil
}

// profile writes prefix-cpu.pprof for the time load runs, and the
// allocation profiles before and after it (their difference is the load's).
func (e *env) profile(prefix string, d time.Duration, load func()) error {
	if err := e.fetchProfile("/debug/pprof/allocs", prefix+"-allocs-before.pprof"); err != nil {
		return err
	}
	cpu := make(chan error, 1)
	go func() {
		cpu <- e.fetchProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(d.Seconds()))), prefix+"-cpu.pprof")
	}()
	load()
	if err := <-cpu; err != nil {
		return err
	}
	return e.fetchProfile("/debug/pprof/allocs", prefix+"-allocs-after.pprof")
}

func (e *env) fetchProfile(path, file string) error {
	res, err := http.Get(e.pprof + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, res.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
