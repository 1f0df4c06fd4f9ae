package schema

import (
	"bytes"
	"slices"
	"testing"
)

// The start-up check's list is every attribute type the LDIF defines.
func TestAttributeTypesAreReadFromTheLDIF(t *testing.T) {
	if n := bytes.Count(LDIF, []byte("\nolcAttributeTypes: ")); len(AttributeTypes) != n {
		t.Errorf("%d attribute types read, the LDIF defines %d: %q", len(AttributeTypes), n, AttributeTypes)
	}
	for _, want := range []string{"apexSiret", "apexSession", "apexKnownAddress", "apexMailKey"} {
		if !slices.Contains(AttributeTypes, want) {
			t.Errorf("%s missing from %q", want, AttributeTypes)
		}
	}
}
