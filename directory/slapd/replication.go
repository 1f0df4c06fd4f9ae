package slapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/ldif"
)

// Replication makes a slapd one provider of a multi-provider cluster: it
// replicates from each peer with syncrepl (refreshAndPersist), bound as
// ldif.ReplicatorDN, and accepts writes itself.
type Replication struct {
	ServerID int      // 1 to 4095, unique in the cluster
	Peers    []string // ldap:// URLs of the other providers
	Password string   // the replicator account's password, the same on every provider
	// Join is for every provider but the first: an empty database then waits
	// for the base entries from a peer instead of loading its own, which
	// would be other entries under the same names.
	Join bool
}

// StartCluster starts len(cfgs) providers in multi-provider replication,
// each on its own port, the first one loading the base entries and the
// others receiving them from it. The replicator's password must be free of
// quotes and backslashes. A provider stopped or killed comes back with
// Start(ctx, srv.Config()): same folder, port and peers.
func StartCluster(ctx context.Context, cfgs []Config, replicatorPassword string) ([]*Server, error) {
	if len(cfgs) < 2 || replicatorPassword == "" {
		return nil, errors.New("slapd: a cluster needs two configurations or more and a replicator password")
	}
	cfgs = slices.Clone(cfgs)
	urls := make([]string, len(cfgs))
	for i := range cfgs {
		host, port, err := listenAddress(cfgs[i].Listen)
		if err != nil {
			return nil, err
		}
		urls[i] = "ldap://" + net.JoinHostPort(host, strconv.Itoa(port))
		cfgs[i].Listen = urls[i]
	}
	var servers []*Server
	for i := range cfgs {
		peers := slices.Delete(slices.Clone(urls), i, i+1)
		cfgs[i].Replication = &Replication{ServerID: i + 1, Peers: peers, Password: replicatorPassword, Join: i > 0}
		srv, err := Start(ctx, cfgs[i])
		if err != nil {
			for _, s := range servers {
				s.Stop()
			}
			return nil, fmt.Errorf("slapd: provider %d: %w", i+1, err)
		}
		servers = append(servers, srv)
	}
	return servers, nil
}

// awaitRefresh waits until syncrepl has brought every one of dns and ended
// its first refresh (the suffix then carries a contextCSN): writing before
// that can meet entries that are not there yet.
func (s *Server) awaitRefresh(ctx context.Context, conn *ldap.Conn, timeout time.Duration, dns ...string) error {
	deadline := time.Now().Add(timeout)
	for _, dn := range dns {
		for {
			ok, err := entryExists(conn, dn)
			if err == nil && ok && dn == dns[len(dns)-1] {
				ok, err = hasContextCSN(conn, s.Suffix)
			}
			if err != nil {
				return fmt.Errorf("slapd: read %s: %w", dn, err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("slapd: %s has not come from the peers after %s; log:\n%s", dn, timeout, s.LogTail(2000))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func hasContextCSN(conn *ldap.Conn, suffix string) (bool, error) {
	res, err := conn.Search(ldap.NewSearchRequest(suffix, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"contextCSN"}, nil))
	if err != nil {
		return false, err
	}
	return len(res.Entries) == 1 && res.Entries[0].GetAttributeValue("contextCSN") != "", nil
}

// ensureReplicator adds the replicator account when missing and sets its
// password (slapd hashes it).
func ensureReplicator(conn *ldap.Conn, suffix, password string) error {
	dn := ldif.ReplicatorDN(suffix)
	ok, err := entryExists(conn, dn)
	if err != nil {
		return fmt.Errorf("slapd: read %s: %w", dn, err)
	}
	if !ok {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"applicationProcess", "simpleSecurityObject"})
		req.Attribute("cn", []string{"replicator"})
		req.Attribute("description", []string{"Replication between the providers of a cluster (read only)"})
		req.Attribute("userPassword", []string{password})
		req.Attribute("pwdPolicySubentry", []string{"cn=system,ou=policies," + suffix})
		if err := conn.Add(req); err == nil || !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			if err != nil {
				return fmt.Errorf("slapd: add %s: %w", dn, err)
			}
			return nil
		}
	}
	if err := setPassword(conn, dn, password, 5*time.Second); err != nil {
		return fmt.Errorf("slapd: set the replicator password: %w", err)
	}
	return nil
}
