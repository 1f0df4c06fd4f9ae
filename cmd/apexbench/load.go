package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
)

// population is the directory the bench loads: one big structure of a
// tenth of the accounts across 20 services, the rest in small structures
// (a structure for ten accounts), the first account of each structure its
// administrator, habilitations on a few applications; in the big
// structure, submitted requests for the approval pair and pending
// invitations; a submitted administrator in one structure of 100, for the
// agents' requests.
type population struct {
	accounts      int
	structures    int
	big           string   // SIRET of the big structure
	bigUIDs       []string // its accounts
	otherUIDs     []string // a sample of the others
	requests      []string // request ids of submitted accounts
	services      []string // of the big structure
	invitations   int      // invited accounts of the big structure
	adminRequests int      // submitted administrators
}

// siret returns a valid SIRET: a SIREN and a NIC whose 14 digits pass Luhn.
func siret(i int) string {
	siren := fmt.Sprintf("%08d", 10000000+i)
	siren += string(rune('0' + luhnKey(siren)))
	for nic := 1; ; nic++ {
		s := siren + fmt.Sprintf("%05d", nic)
		if luhnSum(s)%10 == 0 {
			return s
		}
	}
}

func luhnSum(s string) int {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum
}

func luhnKey(s string) int {
	return (10 - luhnSum(s+"0")%10) % 10
}

// writeLDIF writes the population under base, every person with the same
// pre-hashed password (slapadd passes ppolicy by).
func writeLDIF(path, base, systemDN string, n, requests int, hash string) (*population, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	p := &population{accounts: n}
	p.structures = max(2, n/10)
	bigCount := n / 10
	p.big = siret(0)
	for i := range 20 {
		p.services = append(p.services, fmt.Sprintf("Service %02d", i))
	}
	apps := []string{"ficoba", "patrim", "hopla"}
	members := map[string][]string{}
	entry := func(dn string, attrs ...string) {
		fmt.Fprintf(w, "dn: %s\n", dn)
		for i := 0; i < len(attrs); i += 2 {
			fmt.Fprintf(w, "%s: %s\n", attrs[i], attrs[i+1])
		}
		w.WriteString("\n")
	}
	structuresDN := "ou=structures," + base
	activeSince := time.Now().UTC().Format("20060102150405Z")
	// person writes account k: a collaborateur of serviceDN, or an
	// administrator of the structure when serviceDN is empty; invited, it
	// has no name yet (the service's "-") and no password.
	person := func(k int, siretStr, serviceDN, parentDN string, state, rdnAttr, rdnValue string) string {
		uid := benchUID(k)
		dn := rdnAttr + "=" + ldap.EscapeDN(rdnValue) + "," + parentDN
		first, last, mail := "Prenom"+letters(k), "Nom"+letters(k), fmt.Sprintf("p%d@bench.example.fr", k)
		attrs := []string{"objectClass", "inetOrgPerson", "objectClass", "apexPerson",
			"mail", mail, "apexMailKey", directory.MailKey(base, siretStr, mail),
			"apexAccountState", state, "apexSiret", siretStr, "apexRequestId", fmt.Sprintf("req%d", k)}
		if state == "invited" {
			attrs = append(attrs, "cn", mail, "displayName", mail, "sn", "-", "apexSortKey", mail)
		} else {
			attrs = append(attrs, "cn", first+" "+last, "displayName", first+" "+last, "sn", last, "givenName", first, "apexSortKey", directory.SortKey(last, first), "userPassword", hash)
		}
		if serviceDN == "" {
			attrs = append(attrs, "apexRole", "administrateur")
		} else {
			attrs = append(attrs, "apexRole", "collaborateur", "apexService", serviceDN)
		}
		if rdnAttr == "uid" {
			attrs = append(attrs, "uid", uid)
		}
		if state == "active" {
			// as the store sets it: otherwise the migration active-since
			// writes every account at apexd's first start
			attrs = append(attrs, "apexActiveSince", activeSince)
		}
		entry(dn, attrs...)
		return dn
	}
	k := 0
	for s := range p.structures {
		st := siret(s)
		stDN := "ou=" + st + "," + structuresDN
		name := fmt.Sprintf("Structure %d", s)
		entry(stDN, "objectClass", "organizationalUnit", "objectClass", "apexStructure", "ou", st,
			"apexSiret", st, "apexLabel", name, "apexCategory", "Notaire", "apexSortKey", directory.SortKey(name))
		services := p.services[:3]
		count := (n - bigCount) / (p.structures - 1)
		if s == 0 {
			services, count = p.services, bigCount
		}
		for _, sv := range services {
			entry("ou="+ldap.EscapeDN(sv)+","+stDN, "objectClass", "organizationalUnit", "objectClass", "apexService", "ou", sv, "apexSiret", st)
		}
		for j := range count {
			svDN := "ou=" + ldap.EscapeDN(services[j%len(services)]) + "," + stDN
			uid := benchUID(k)
			app := apps[k/10%len(apps)]
			// The profile's member is enough: dynlist derives memberOf at read time.
			var dn string
			if j == 0 {
				dn = person(k, st, "", stDN, "active", "uid", uid)
			} else {
				dn = person(k, st, svDN, svDN, "active", "uid", uid)
			}
			if k%10 == 0 {
				members[app] = append(members[app], dn)
			}
			if s == 0 {
				p.bigUIDs = append(p.bigUIDs, uid)
			} else if len(p.otherUIDs) < 10000 {
				p.otherUIDs = append(p.otherUIDs, uid)
			}
			k++
		}
		if s == 0 {
			for j := range requests {
				svDN := "ou=" + ldap.EscapeDN(services[j%len(services)]) + "," + stDN
				id := fmt.Sprintf("req%d", k)
				person(k, st, svDN, svDN, "submitted", "apexRequestId", id)
				p.requests = append(p.requests, id)
				k++
			}
			p.invitations = min(2000, max(100, n/50))
			for j := range p.invitations {
				svDN := "ou=" + ldap.EscapeDN(services[j%len(services)]) + "," + stDN
				person(k, st, svDN, svDN, "invited", "apexRequestId", fmt.Sprintf("req%d", k))
				k++
			}
		}
		if s%100 == 1 {
			person(k, st, "", stDN, "submitted", "apexRequestId", fmt.Sprintf("req%d", k))
			p.adminRequests++
			k++
		}
	}
	for _, app := range apps {
		appDN := "ou=" + app + ",ou=applications," + base
		entry(appDN, "objectClass", "organizationalUnit", "objectClass", "apexApplication", "ou", app, "apexLabel", strings.ToUpper(app))
		attrs := []string{"objectClass", "groupOfNames", "objectClass", "apexProfile", "cn", "consultation", "member", "cn=nobody," + systemDN}
		for _, m := range members[app] {
			attrs = append(attrs, "member", m)
		}
		entry("cn=consultation,"+appDN, attrs...)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return p, nil
}

// letters writes k in base 26 with the letters a to z: identifiers keep no
// digit, so every bench account has a name of its own.
func letters(k int) string {
	s := ""
	for {
		s = string(rune('a'+k%26)) + s
		k /= 26
		if k == 0 {
			return s
		}
	}
}

func benchUID(k int) string { return "prenom" + letters(k) + ".nom" + letters(k) + "-px" }
