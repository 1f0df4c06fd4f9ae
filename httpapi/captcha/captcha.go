// Package captcha renders the captcha of the « Mot de passe oublié » step:
// an image of random digits (drawn by github.com/dchest/captcha) and the same
// digits spoken in French. It keeps no state: the digits of a challenge live
// in the directory, and each rendering is drawn afresh from them.
package captcha

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	dcaptcha "github.com/dchest/captcha"
)

// MaxDigits bounds a challenge, so that a request cannot ask for a huge
// image or clip.
const MaxDigits = 20

// Image sizes accepted by Image, in pixels.
const (
	MinWidth, MaxWidth   = 60, 2000
	MinHeight, MaxHeight = 30, 1000
)

var errNoDigits = errors.New("captcha: no digits")

// NewDigits returns n random digits, each a value from 0 to 9 (not ASCII).
func NewDigits(n int) []byte {
	digits := make([]byte, 0, max(n, 0))
	var buf [32]byte
	for len(digits) < n {
		rand.Read(buf[:])
		for _, b := range buf {
			// 250 is the largest multiple of 10 under 256: no digit is more likely.
			if b < 250 && len(digits) < n {
				digits = append(digits, b%10)
			}
		}
	}
	return digits
}

// String writes digits (values 0 to 9) as text: {1, 2, 3} is "123".
func String(digits []byte) string {
	b := make([]byte, len(digits))
	for i, d := range digits {
		b[i] = '0' + d
	}
	return string(b)
}

// ParseDigits reads text made of ASCII digits, as String writes it.
func ParseDigits(s string) ([]byte, error) {
	digits := make([]byte, len(s))
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return nil, fmt.Errorf("captcha: %q is not made of digits", s)
		}
		digits[i] = s[i] - '0'
	}
	return digits, checkDigits(digits)
}

func checkDigits(digits []byte) error {
	if len(digits) == 0 {
		return errNoDigits
	}
	if len(digits) > MaxDigits {
		return fmt.Errorf("captcha: %d digits, at most %d", len(digits), MaxDigits)
	}
	for _, d := range digits {
		if d > 9 {
			return fmt.Errorf("captcha: digit value %d out of 0-9", d)
		}
	}
	return nil
}

// Image draws digits as a distorted PNG of width × height pixels. Each call
// draws them differently.
func Image(digits []byte, width, height int) (img []byte, err error) {
	if err := checkDigits(digits); err != nil {
		return nil, err
	}
	if width < MinWidth || width > MaxWidth || height < MinHeight || height > MaxHeight {
		return nil, fmt.Errorf("captcha: image size %d×%d out of %d-%d × %d-%d", width, height, MinWidth, MaxWidth, MinHeight, MaxHeight)
	}
	// dchest/captcha panics when the digits cannot be placed in the image;
	// the bounds above avoid that, this keeps a mistake from killing a request.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("captcha: drawing %d digits in %d×%d: %v", len(digits), width, height, r)
		}
	}()
	// The id only seeds the distortion (with a key random per process).
	seed := make([]byte, 16)
	rand.Read(seed)
	var buf bytes.Buffer
	if _, err := dcaptcha.NewImage(base64.RawURLEncoding.EncodeToString(seed), digits, width, height).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("captcha: %w", err)
	}
	return buf.Bytes(), nil
}
