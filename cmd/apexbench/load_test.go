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
	people := 0
	for _, e := range entries {
		for _, a := range e.Attributes {
			if a.Type == "objectClass" && a.Values[len(a.Values)-1] == "apexPerson" {
				people++
			}
		}
	}
	if people != 1000+20 || len(pop.bigUIDs) != 100 || len(pop.requests) != 20 || len(pop.services) != 20 {
		t.Errorf("%d people, %d in the big structure, %d requests", people, len(pop.bigUIDs), len(pop.requests))
	}
}
