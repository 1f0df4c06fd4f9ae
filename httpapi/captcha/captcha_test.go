package captcha

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"testing/fstest"
)

func TestCaptchaNewDigits(t *testing.T) {
	seen := map[byte]int{}
	for range 100 {
		d := NewDigits(10)
		if len(d) != 10 {
			t.Fatalf("NewDigits(10) gave %d digits", len(d))
		}
		for _, v := range d {
			if v > 9 {
				t.Fatalf("digit value %d", v)
			}
			seen[v]++
		}
	}
	if len(seen) != 10 {
		t.Errorf("1000 digits use only %v", seen)
	}
	if d := NewDigits(0); len(d) != 0 {
		t.Errorf("NewDigits(0) = %v", d)
	}
	if d := NewDigits(-1); len(d) != 0 {
		t.Errorf("NewDigits(-1) = %v", d)
	}
}

func TestCaptchaStringAndParseDigits(t *testing.T) {
	if s := String([]byte{0, 4, 2, 9}); s != "0429" {
		t.Errorf("String = %q", s)
	}
	if d, err := ParseDigits("0429"); err != nil || !bytes.Equal(d, []byte{0, 4, 2, 9}) {
		t.Errorf("ParseDigits = %v, %v", d, err)
	}
	for _, bad := range []string{"", "12a4", " 123", "١٢٣", "123456789012345678901"} {
		if d, err := ParseDigits(bad); err == nil {
			t.Errorf("ParseDigits(%q) = %v, want an error", bad, d)
		}
	}
}

func TestCaptchaImage(t *testing.T) {
	digits := NewDigits(6)
	for _, size := range [][2]int{{240, 80}, {MinWidth, MinHeight}, {120, 200}, {600, 100}} {
		b, err := Image(digits, size[0], size[1])
		if err != nil {
			t.Fatalf("Image %v: %v", size, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("Image %v is not a PNG: %v", size, err)
		}
		if got := img.Bounds().Size(); got.X != size[0] || got.Y != size[1] {
			t.Errorf("Image %v is %v", size, got)
		}
	}
	a, _ := Image(digits, 240, 80)
	b, _ := Image(digits, 240, 80)
	if bytes.Equal(a, b) {
		t.Errorf("two images of the same digits are identical")
	}
	for name, tc := range map[string]struct {
		digits []byte
		w, h   int
	}{
		"no digits":     {nil, 240, 80},
		"digit 10":      {[]byte{1, 10}, 240, 80},
		"ASCII digit":   {[]byte("12"), 240, 80},
		"too many":      {make([]byte, MaxDigits+1), 240, 80},
		"too narrow":    {digits, MinWidth - 1, 80},
		"too low":       {digits, 240, MinHeight - 1},
		"too wide":      {digits, MaxWidth + 1, 80},
		"negative size": {digits, -240, -80},
	} {
		if _, err := Image(tc.digits, tc.w, tc.h); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// wavHeader checks the 44-byte header byte by byte, independently of
// readWAV, and returns the number of samples.
func wavHeader(t *testing.T, b []byte) int {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 44 {
		t.Fatalf("%d bytes, shorter than a WAV header", len(b))
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"RIFF", string(b[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(b[4:]), uint32(len(b) - 8)},
		{"WAVE", string(b[8:12]), "WAVE"},
		{"fmt", string(b[12:16]), "fmt "},
		{"fmt size", le.Uint32(b[16:]), uint32(16)},
		{"format (PCM)", le.Uint16(b[20:]), uint16(1)},
		{"channels", le.Uint16(b[22:]), uint16(1)},
		{"sample rate", le.Uint32(b[24:]), uint32(8000)},
		{"byte rate", le.Uint32(b[28:]), uint32(16000)},
		{"block align", le.Uint16(b[32:]), uint16(2)},
		{"bits per sample", le.Uint16(b[34:]), uint16(16)},
		{"data", string(b[36:40]), "data"},
		{"data size", le.Uint32(b[40:]), uint32(len(b) - 44)},
	} {
		if f.got != f.want {
			t.Errorf("WAV header %s = %v, want %v", f.name, f.got, f.want)
		}
	}
	return (len(b) - 44) / 2
}

// clipBounds is the shortest and longest clip speak can make of digits.
func clipBounds(digits []byte) (lo, hi int) {
	ms := func(v int) int { return v * sampleRate / 1000 }
	lo = ms(leadInMinMS) + (len(digits)-1)*ms(gapMinMS) + ms(tailMinMS)
	hi = ms(leadInMaxMS) + (len(digits)-1)*ms(gapMaxMS) + ms(tailMaxMS)
	for _, d := range digits {
		n := float64(len(frenchDigits[d]))
		lo += int(n/speedMax) - 1
		hi += int(n/speedMin) + 1
	}
	return lo, hi
}

func TestCaptchaAudioIsAWAV(t *testing.T) {
	digits := NewDigits(6)
	b, err := Audio(digits)
	if err != nil {
		t.Fatal(err)
	}
	n := wavHeader(t, b)
	if lo, hi := clipBounds(digits); n < lo || n > hi {
		t.Errorf("%d samples, want %d to %d", n, lo, hi)
	}
	samples, err := readWAV(b)
	if err != nil || len(samples) != n {
		t.Errorf("readWAV: %d samples, %v", len(samples), err)
	}
	for name, digits := range map[string][]byte{"none": nil, "digit 10": {1, 10}, "too many": make([]byte, MaxDigits+1)} {
		if _, err := Audio(digits); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCaptchaAudioGrowsWithTheDigits(t *testing.T) {
	// Chosen so that the longest clip of each count is shorter than the
	// shortest of the next, whatever the digits and the draws.
	prev := 0
	for _, n := range []int{1, 4, 12} {
		digits := NewDigits(n)
		b, err := Audio(digits)
		if err != nil {
			t.Fatal(err)
		}
		samples := wavHeader(t, b)
		if samples <= prev {
			t.Errorf("%d digits: %d samples, not more than %d for fewer digits", n, samples, prev)
		}
		prev = samples
	}
}

func TestCaptchaAudioDependsOnTheAnswer(t *testing.T) {
	a, b := []byte{1, 2, 3, 4, 5, 6}, []byte{1, 2, 3, 4, 5, 7}
	// With the same draws, only the digits differ.
	seed := [32]byte{42}
	clipA := speak(frenchDigits, a, mrand.New(mrand.NewChaCha8(seed)))
	again := speak(frenchDigits, a, mrand.New(mrand.NewChaCha8(seed)))
	clipB := speak(frenchDigits, b, mrand.New(mrand.NewChaCha8(seed)))
	if !slices.Equal(clipA, again) {
		t.Fatalf("speak is not a function of its draws")
	}
	if slices.Equal(clipA, clipB) {
		t.Errorf("123456 and 123457 sound the same")
	}
	wa, _ := Audio(a)
	wb, _ := Audio(b)
	if bytes.Equal(wa, wb) {
		t.Errorf("two answers give the same file")
	}
}

func TestCaptchaAudioSameAnswerTwice(t *testing.T) {
	digits := []byte{4, 8, 1, 5, 9, 0}
	lo, hi := clipBounds(digits)
	first, _ := Audio(digits)
	second, _ := Audio(digits)
	if bytes.Equal(first, second) {
		t.Errorf("the same answer gives the same bytes twice")
	}
	for _, b := range [][]byte{first, second} {
		if n := wavHeader(t, b); n < lo || n > hi {
			t.Errorf("%d samples, want %d to %d", n, lo, hi)
		}
	}
	// The lead-in is noise only: present, and faint.
	samples, _ := readWAV(first)
	lead := samples[:leadInMinMS*sampleRate/1000]
	if rms(lead) == 0 {
		t.Errorf("no noise in the lead-in")
	}
	for _, s := range lead {
		if math.Abs(float64(s)) > noiseMax+1 {
			t.Fatalf("lead-in sample %d louder than the noise", s)
		}
	}
}

func TestCaptchaFrenchVoiceFiles(t *testing.T) {
	v, err := loadVoice(voiceFiles, "voice/fr")
	if err != nil {
		t.Fatal(err)
	}
	for d, samples := range v {
		seconds := float64(len(samples)) / sampleRate
		if seconds < 0.1 || seconds > 1 {
			t.Errorf("digit %d lasts %.2f s", d, seconds)
		}
		// Speech normalised to -1 dBFS is far above 1000 (-30 dBFS) in RMS.
		if r := rms(samples); r < 1000 {
			t.Errorf("digit %d: RMS %.0f, silent", d, r)
		}
	}
}

func TestCaptchaReadWAVRejects(t *testing.T) {
	good := writeWAV([]int16{0, 1000, -1000, 32767, -32768})
	if s, err := readWAV(good); err != nil || !slices.Equal(s, []int16{0, 1000, -1000, 32767, -32768}) {
		t.Fatalf("round trip: %v, %v", s, err)
	}
	patch := func(off int, v any) []byte {
		b := bytes.Clone(good)
		switch v := v.(type) {
		case uint16:
			binary.LittleEndian.PutUint16(b[off:], v)
		case uint32:
			binary.LittleEndian.PutUint32(b[off:], v)
		case string:
			copy(b[off:], v)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"not RIFF":     patch(0, "RIFX"),
		"not WAVE":     patch(8, "AVI "),
		"RIFF size":    patch(4, uint32(1000)),
		"float":        patch(20, uint16(3)),
		"stereo":       patch(22, uint16(2)),
		"44.1 kHz":     patch(24, uint32(44100)),
		"8 bits":       patch(34, uint16(8)),
		"data overrun": patch(40, uint32(1000)),
		"no data":      patch(36, "junk"),
		"truncated":    good[:43],
	} {
		if _, err := readWAV(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	files := fstest.MapFS{}
	for d := range 10 {
		files["v/"+string(rune('0'+d))+".wav"] = &fstest.MapFile{Data: good}
	}
	if _, err := loadVoice(files, "v"); err != nil {
		t.Errorf("a good voice: %v", err)
	}
	files["v/7.wav"] = &fstest.MapFile{Data: patch(24, uint32(22050))}
	if _, err := loadVoice(files, "v"); err == nil {
		t.Errorf("a voice with a 22 kHz file is loaded")
	}
}

func rms(samples []int16) float64 {
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(samples)))
}
