package schema

import (
	"bytes"
	"slices"
	"testing"
)

// Every attribute type of the LDIF is listed for the start-up check.
func TestAttributeTypes(t *testing.T) {
	if n := bytes.Count(LDIF, []byte("\nolcAttributeTypes: ")); len(AttributeTypes) != n || n == 0 {
		t.Errorf("%d attribute types read, %d in the LDIF: %v", len(AttributeTypes), n, AttributeTypes)
	}
	for _, want := range []string{"apexSiret", "apexHistory", "apexMailKey"} {
		if !slices.Contains(AttributeTypes, want) {
			t.Errorf("%s is not among %v", want, AttributeTypes)
		}
	}
}
