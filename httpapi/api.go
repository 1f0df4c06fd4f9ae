package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// What the API's handlers share to read a request: one JSON object, and the
// fields it cannot go without.

// decode reads a JSON object into v, refusing unknown fields, trailing data
// and bodies over maxBody.
func decode(c *gin.Context, v any) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if len(raw) > maxBody {
		return fmt.Errorf("%w: body over %d bytes", errBadRequest, maxBody)
	}
	// Decode accepts null for a struct, leaving it empty.
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("%w: not a JSON object", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	// More() would let a stray "}" or "]" through; only the end may follow.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", errBadRequest)
	}
	return nil
}

// decodeOptional is decode for a body the request may leave out: an
// empty one leaves v as it is.
func decodeOptional(c *gin.Context, v any) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	return decode(c, v)
}

// required lists the fields left empty, as an invalid-input error.
func required(fields ...[2]string) error {
	var problems []directory.Problem
	for _, f := range fields {
		if f[1] == "" {
			problems = append(problems, directory.Problem{Field: f[0], Message: "Ce champ est obligatoire."})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &directory.InvalidError{Problems: problems}
}
