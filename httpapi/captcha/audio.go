package captcha

import (
	"crypto/rand"
	"embed"
	"fmt"
	"io/fs"
	"math"
	mrand "math/rand/v2"
)

// The ten French digits, spoken by espeak-ng and trimmed (voice/generate.sh).
//
//go:embed voice/fr/*.wav
var voiceFiles embed.FS

// frenchDigits holds the samples of "zéro" … "neuf". The files are part of
// the binary, so a bad one is a build mistake: it stops the program at start
// (and fails every test of the package) rather than at the first audio request.
var frenchDigits = mustLoadVoice(voiceFiles, "voice/fr")

func mustLoadVoice(fsys fs.FS, dir string) [10][]int16 {
	v, err := loadVoice(fsys, dir)
	if err != nil {
		panic(err)
	}
	return v
}

func loadVoice(fsys fs.FS, dir string) ([10][]int16, error) {
	var v [10][]int16
	for d := range v {
		name := fmt.Sprintf("%s/%d.wav", dir, d)
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return v, fmt.Errorf("captcha: voice: %w", err)
		}
		if v[d], err = readWAV(b); err != nil {
			return v, fmt.Errorf("captcha: voice %s: %w", name, err)
		}
		if len(v[d]) == 0 {
			return v, fmt.Errorf("captcha: voice %s: no samples", name)
		}
	}
	return v, nil
}

// How a clip is laid out and disguised; each value is drawn anew per clip
// (lead-in, tail, noise) or per digit (gap, speed, volume).
const (
	leadInMinMS, leadInMaxMS = 300, 600
	gapMinMS, gapMaxMS       = 200, 500
	tailMinMS, tailMaxMS     = 200, 400
	speedMin, speedMax       = 0.9, 1.1 // > 1 is faster and higher
	volumeMin, volumeMax     = 0.7, 1.0 // the files peak at -1 dBFS
	noiseMin, noiseMax       = 150, 450 // peak of the white noise, out of 32767
)

// Audio speaks digits in French as a WAV file (PCM, mono, 8 kHz, 16 bits).
// Each call gives a different clip: random silences, per-digit speed and
// volume, and white noise over the whole clip.
func Audio(digits []byte) ([]byte, error) {
	if err := checkDigits(digits); err != nil {
		return nil, err
	}
	var seed [32]byte
	rand.Read(seed[:])
	return writeWAV(speak(frenchDigits, digits, mrand.New(mrand.NewChaCha8(seed)))), nil
}

// speak lays out the voice's samples for digits, drawing every variation from r.
func speak(voice [10][]int16, digits []byte, r *mrand.Rand) []int16 {
	between := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	silence := func(minMS, maxMS int) []int16 {
		return make([]int16, (minMS+r.IntN(maxMS-minMS+1))*sampleRate/1000)
	}
	clip := silence(leadInMinMS, leadInMaxMS)
	for i, d := range digits {
		if i > 0 {
			clip = append(clip, silence(gapMinMS, gapMaxMS)...)
		}
		clip = appendVaried(clip, voice[d], between(speedMin, speedMax), between(volumeMin, volumeMax))
	}
	clip = append(clip, silence(tailMinMS, tailMaxMS)...)
	level := between(noiseMin, noiseMax)
	for i, s := range clip {
		clip[i] = clamp(float64(s) + level*(2*r.Float64()-1))
	}
	return clip
}

// appendVaried appends src played speed times faster (by linear
// interpolation, so the pitch follows) at volume.
func appendVaried(dst, src []int16, speed, volume float64) []int16 {
	n := int(float64(len(src)) / speed)
	for j := range n {
		pos := float64(j) * speed
		i := int(pos)
		frac := pos - float64(i)
		s := float64(src[i])
		if i+1 < len(src) {
			s += frac * (float64(src[i+1]) - s)
		}
		dst = append(dst, clamp(s*volume))
	}
	return dst
}

func clamp(v float64) int16 {
	return int16(math.Round(max(math.MinInt16, min(math.MaxInt16, v))))
}
