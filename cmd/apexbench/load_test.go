package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/ldif"
)

func TestGeneratedSIRETsAndIdentifiersAreValid(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2000 {
		s := siret(i)
		if err := directory.CheckSIRET(s); err != nil || seen[s] {
			t.Fatalf("siret(%d) = %s: %v (seen before: %v)", i, s, err, seen[s])
		}
		seen[s] = true
		if id := benchUID(i); !directory.ValidIdentifier(id) {
			t.Fatalf("benchUID(%d) = %s is not an identifier", i, id)
		}
	}
}

func TestWriteLDIFParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulk.ldif")
	pop, err := writeLDIF(path, "dc=apex,dc=bench", "ou=system,dc=apex,dc=bench", 1000, 20, "{ARGON2}x")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ldif.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	people, structures, admins, keys := 0, 0, 0, 0
	for _, e := range entries {
		for _, a := range e.Attributes {
			switch {
			case a.Type == "objectClass" && a.Values[len(a.Values)-1] == "apexPerson":
				people++
			case a.Type == "objectClass" && a.Values[len(a.Values)-1] == "apexStructure":
				structures++
			case a.Type == "apexRole" && a.Values[0] == "administrateur":
				admins++
			case a.Type == "apexSortKey":
				keys++
			}
		}
	}
	// A structure for ten accounts, each with its administrator; the
	// accounts, the requests, the invitations and the administrators'
	// requests; every person and structure with its sort key.
	if structures != 100 || pop.structures != 100 || admins != 100+pop.adminRequests || pop.adminRequests != 1 ||
		people != 100+9*99+20+pop.invitations+pop.adminRequests || pop.invitations != 100 || keys != people+structures ||
		len(pop.bigUIDs) != 100 || len(pop.requests) != 20 || len(pop.services) != 20 {
		t.Errorf("%d people (%d administrators, %d invitations), %d structures, %d keys, %d in the big structure, %d requests",
			people, admins, pop.invitations, structures, keys, len(pop.bigUIDs), len(pop.requests))
	}
}
