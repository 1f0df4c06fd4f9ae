package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// bodyType is a JSON body an API handler decodes, with the checks the
// handler and the domain make of it before the directory is read or written.
type bodyType struct {
	name     string
	new      func() any
	validate func(v any) error
	example  string
}

var bodyTypes = []bodyType{
	{"login", func() any { return &loginRequest{} }, func(v any) error {
		r := v.(*loginRequest)
		return required([2]string{"identifier", r.Identifier}, [2]string{"password", r.Password})
	}, `{"identifier":"marie.martin-px","password":"Correct-Horse-42!"}`},
	{"verify", func() any { return &verifyRequest{} }, func(v any) error {
		r := v.(*verifyRequest)
		return required([2]string{"challenge", r.Challenge}, [2]string{"code", r.Code})
	}, `{"challenge":"abc","code":"123456"}`},
	{"resend", func() any { return &resendRequest{} }, func(v any) error {
		return required([2]string{"challenge", v.(*resendRequest).Challenge})
	}, `{"challenge":"abc"}`},
	{"structure", func() any { return &structureRequest{} }, func(v any) error {
		r := v.(*structureRequest)
		st := directory.Structure{SIRET: r.SIRET, Name: r.Name, Category: r.Category}
		return st.Validate()
	}, `{"siret":"73282932000074","name":"Étude","category":"Notaire"}`},
	{"service", func() any { return &serviceRequest{} }, func(v any) error {
		sv := directory.Service{SIRET: "73282932000074", Name: v.(*serviceRequest).Name}
		return sv.Validate()
	}, `{"name":"Comptabilité"}`},
	{"invite", func() any { return &inviteRequest{} }, func(v any) error {
		r := v.(*inviteRequest)
		n := directory.NewInvitation{Email: r.Email, Role: directory.Role(r.Role), SIRET: "73282932000074", Service: r.Service}
		return n.Validate()
	}, `{"email":"a@example.fr","role":"collaborateur","service":"Comptabilité"}`},
	{"pre-creation", func() any { return &preCreationRequest{} }, func(v any) error {
		// The form's own checks run in the store (PreCreation.validate):
		// FuzzMobile and FuzzAPIBody reach them.
		return directory.CheckPassword(v.(*preCreationRequest).Password)
	}, `{"lastName":"Martin","firstName":"Marie","mobile":"0612345678","service":"","password":"Correct-Horse-42!"}`},
	{"refuse", func() any { return &refuseRequest{} }, nil, `{"reason":"Doublon"}`},
	{"application", func() any { return &applicationView{} }, func(v any) error {
		r := v.(*applicationView)
		a := directory.Application{ID: r.ID, Name: r.Name, Profiles: r.Profiles, RedirectURIs: r.RedirectURIs, HomeURL: r.HomeURL}
		return a.Validate()
	}, `{"id":"ficoba","name":"FICOBA","profiles":["consultation","*)(cn=*"],"redirectUris":["https://ficoba.example.fr/retour"],"homeUrl":"javascript:x"}`},
	{"application update", func() any { return &applicationUpdate{} }, func(v any) error {
		r := v.(*applicationUpdate)
		u := directory.ApplicationUpdate{Name: r.Name, RedirectURIs: r.RedirectURIs, HomeURL: r.HomeURL}
		return u.Validate()
	}, `{"name":"FICOBA","redirectUris":["http://127.0.0.1:8443/cb","https://x.example.fr/#f"],"homeUrl":null}`},
	{"profile", func() any { return &profileRequest{} }, func(v any) error {
		// Its form (a slug) is the store's check (CreateProfile): FuzzAPIBody reaches it.
		return required([2]string{"profile", v.(*profileRequest).Profile})
	}, `{"profile":"export"}`},
	{"move", func() any { return &moveRequest{} }, nil, `{"service":"Comptabilité"}`},
	{"forgot", func() any { return &forgotRequest{} }, func(v any) error {
		r := v.(*forgotRequest)
		return required([2]string{"identifier", r.Identifier}, [2]string{"captchaId", r.CaptchaID}, [2]string{"captchaAnswer", r.CaptchaAnswer})
	}, `{"identifier":"marie.martin-px","captchaId":"x","captchaAnswer":"123456"}`},
	{"code", func() any { return &codeRequest{} }, func(v any) error {
		return required([2]string{"code", v.(*codeRequest).Code})
	}, `{"code":"123456"}`},
	{"reset", func() any { return &resetRequest{} }, func(v any) error {
		r := v.(*resetRequest)
		if err := required([2]string{"token", r.Token}); err != nil {
			return err
		}
		return directory.CheckPassword(r.Password)
	}, `{"token":"t","password":"Correct-Horse-42!"}`},
	{"update me", func() any { return &updateMeRequest{} }, func(v any) error {
		r := v.(*updateMeRequest)
		u := directory.PersonUpdate{FirstName: r.FirstName, LastName: r.LastName, Email: r.Email, Mobile: r.Mobile}
		return u.Validate()
	}, `{"lastName":"Martin","firstName":null,"email":"a@example.fr","mobile":""}`},
	{"change password", func() any { return &changePasswordRequest{} }, func(v any) error {
		r := v.(*changePasswordRequest)
		if err := required([2]string{"current", r.Current}, [2]string{"new", r.New}); err != nil {
			return err
		}
		return newPasswordField(directory.CheckPassword(r.New))
	}, `{"current":"x","new":"Correct-Horse-42!"}`},
}

// jsonFields lists the JSON names of a request struct's fields.
func jsonFields(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

// answer serves err as the API does and returns the status and stable code.
func answer(t *testing.T, err error) (int, string, []errorDetail) {
	t.Helper()
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/x", nil)
	s.writeAPIError(c, err)
	var body struct {
		Error apiError `json:"error"`
	}
	if jerr := json.Unmarshal(rec.Body.Bytes(), &body); jerr != nil {
		t.Fatalf("error answer is not JSON: %q", rec.Body.String())
	}
	return rec.Code, body.Error.Code, body.Error.Details
}

// FuzzDecodeBody: any body, for any request type, is either refused by
// decode as malformed (400 bad_request, before anything is read or
// written), or is one JSON object of known fields whose checks give nil or
// a 422 listing fields of that body. Never a panic, never a 500.
func FuzzDecodeBody(f *testing.F) {
	hostile := []string{
		``, ` `, `null`, `{}`, `[]`, `"x"`, `0`, `{`, `}`, `{}}`, `{}]`, `{} {}`, `{}x`, `{} `, "{}\n",
		`{"unknown":1}`, `{"name":1}`, `{"name":null}`, `{"name":"*)(uid=*"}`, `{"name":",+\"\\<>;"}`,
		`{"name":"\u0000"}`, "{\"name\":\"\xff\"}", `{"name":"\ud800"}`, `{"NAME":"x"}`, `{"name":"a","name":"b"}`,
		`{"profiles":"x"}`, `{"profiles":[null]}`, `{"id":"` + strings.Repeat("a", 70) + `"}`,
		`{"email":"a@b"}`, `{"mobile":"+33 06 12 34 56 78"}`, `{"siret":"732 829 320 00074"}`,
		`{"password":"` + strings.Repeat("é", 20) + `"}`, strings.Repeat("[", 10000), `{"name":"` + strings.Repeat("a", maxBody) + `"}`,
	}
	for i, bt := range bodyTypes {
		f.Add(uint8(i), []byte(bt.example))
		f.Add(uint8(i), []byte(bt.example+"}"))
	}
	for i, h := range hostile {
		f.Add(uint8(i), []byte(h))
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		bt := bodyTypes[int(kind)%len(bodyTypes)]
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(body))
		v := bt.new()
		err := decode(c, v)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("%s: decode(%q) = %v, not a bad request", bt.name, body, err)
			}
			if status, code, details := answer(t, err); status != http.StatusBadRequest || code != "bad_request" || details != nil {
				t.Fatalf("%s: decode(%q) answered %d %q %v", bt.name, body, status, code, details)
			}
			return
		}

		// Accepted: one JSON object, nothing after it, only known fields.
		var object map[string]json.RawMessage
		if len(body) > maxBody || json.Unmarshal(body, &object) != nil || object == nil {
			t.Fatalf("%s: decode accepted %q, which is not one JSON object", bt.name, body)
		}
		known := jsonFields(v)
		for k := range object {
			if !known[k] && !knownFold(known, k) {
				t.Fatalf("%s: decode accepted the unknown field %q", bt.name, k)
			}
		}
		// What was decoded decodes the same once encoded again.
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again := bt.new()
		c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(raw))
		if err := decode(c, again); err != nil || !reflect.DeepEqual(v, again) {
			t.Fatalf("%s: %q decodes to %+v, its encoding %s to %+v, %v", bt.name, body, v, raw, again, err)
		}

		if bt.validate == nil {
			return
		}
		verr := bt.validate(v)
		if verr == nil {
			return
		}
		status, code, details := answer(t, verr)
		if status != http.StatusUnprocessableEntity || (code != "invalid_request" && code != "invalid_password") || len(details) == 0 {
			t.Fatalf("%s: checks of %q answered %d %q %v", bt.name, body, status, code, details)
		}
		for _, d := range details {
			if !known[d.Field] || d.Message == "" {
				t.Fatalf("%s: checks of %q report %+v, not a field of the body", bt.name, body, d)
			}
		}
	})
}

// knownFold: encoding/json matches field names without regard to case.
func knownFold(known map[string]bool, k string) bool {
	for name := range known {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}
