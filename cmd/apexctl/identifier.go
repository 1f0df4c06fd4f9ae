package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgfip/apex-partenaires/directory"
)

// runIdentifier prints the identifier that directory.Identifier gives for a
// first name and a last name. It reads no configuration and no directory:
// a homonym already in the directory would get a number (marie.martin2-px).
func runIdentifier(_ context.Context, e *env, args []string) error {
	fs := e.newFlagSet("identifier", `identifier [--json] "Prénom" "Nom"`)
	asJSON := fs.Bool("json", false, "print a JSON object")
	args, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 2 {
		return usagef("want 2 arguments, the first name and the last name, got %d", len(args))
	}
	id, err := directory.Identifier(args[0], args[1])
	var ie *directory.InvalidError
	if errors.As(err, &ie) {
		msgs := make([]string, len(ie.Problems))
		for i, p := range ie.Problems {
			msgs[i] = p.Message
		}
		return fmt.Errorf("%s", strings.Join(msgs, " "))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			FirstName  string `json:"firstName"`
			LastName   string `json:"lastName"`
			Identifier string `json:"identifier"`
		}{args[0], args[1], id})
	}
	_, err = fmt.Fprintln(e.stdout, id)
	return err
}
